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

}  // namespace nnkit::cli
