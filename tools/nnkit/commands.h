// The subcommands of the nnkit tool. Each add_*_command registers its flags on the app and
// a callback that calls the library; errors are thrown as nnkit::Error and turned into
// exit status 2 by main().
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "nnkit/model.h"

namespace nnkit::cli {

void add_train_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
void add_summary_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_bench_command(CLI::App& app);

// Checks for numeric flags, with messages a user reads at once ("--lr: must be > 0, got -1").
CLI::Validator positive();
CLI::Validator non_negative();
CLI::Validator fraction();  // [0, 1)

// Shared by the subcommands.
nlohmann::json read_spec_file(const std::string& path);
// Throws IoError unless `path` can be created: its directory exists and is a directory.
void check_output_path(const std::string& flag, const std::string& path);
// Loads --x/--y arrays, naming the flag in errors.
Tensor read_array(const std::string& flag, const std::string& path);

// The data flags of train and evaluate (inputs and targets) and predict (inputs only): arrays,
// --x X.npy [--y Y.npy], or IDX files, --idx IMAGES [--labels LABELS]; exactly one of the two.
struct DataArgs {
  std::string x, y, idx, labels;
};
// Registers the flags on `cmd`, bound to `args`, which must outlive the parse. With targets,
// --y and --labels are added and each pair goes together.
void add_data_options(CLI::App* cmd, DataArgs& args, bool targets);
// Throws CLI::RequiredError unless --x or --idx was given; call first in the callback.
void require_data(const DataArgs& args, bool targets);

struct Data {
  Tensor x, y;  // y stays empty without targets
};
// Loads what the flags name: IDX images as [N, 1, H, W] in [0, 1] and labels as [N] class
// indices. Throws FormatError naming the flag and file, and both IDX files when their counts
// differ.
Data read_data(const DataArgs& args);

}  // namespace nnkit::cli
