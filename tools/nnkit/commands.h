// The subcommands of the nnkit tool. Each add_*_command registers its flags on the app and
// a callback that calls the library; errors are thrown as nnkit::Error and turned into
// exit status 2 by main().
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "nlohmann/json.hpp"
#include "nnkit/data/csv.h"
#include "nnkit/data/forecast.h"
#include "nnkit/io/html_report.h"
#include "nnkit/model.h"

namespace nnkit::cli {

// Thrown when Ctrl-C ended a command after it saved what it could; main() prints the message
// and exits with status 130, as a shell does for SIGINT.
struct Interrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void add_train_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
void add_summary_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_hopfield_command(CLI::App& app);
void add_gan_command(CLI::App& app);

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

// The flags that say how a CSV time series becomes samples (train), and the ones predict and
// evaluate may change on a model trained on one (--time, --missing).
struct ForecastFlags {
  std::vector<std::string> targets, features;
  std::string time, missing, scale = "standard", target_transform = "none";
  int64_t window = 24, horizon = 1, stride = 1;
};

// The data flags of train and evaluate (inputs and targets) and predict (inputs only): arrays,
// --x X.npy [--y Y.npy], IDX files, --idx IMAGES [--labels LABELS], or a CSV time series,
// --csv FILE; exactly one of the three.
struct DataArgs {
  std::string x, y, idx, labels, csv;
  ForecastFlags series;
};
// Registers the flags on `cmd`, bound to `args`, which must outlive the parse. With targets,
// --y and --labels are added and each pair goes together.
void add_data_options(CLI::App* cmd, DataArgs& args, bool targets);
// The CSV flags: with training, --target (required with --csv), --features, --window,
// --horizon, --stride, --scale, --target-transform; always --time and --missing.
void add_forecast_options(CLI::App* cmd, DataArgs& args, bool training);
// Throws CLI::RequiredError unless --x, --idx or --csv was given; call first in the callback.
void require_data(const DataArgs& args, bool targets);

// The --csv file, with --time. Errors name the file, line and column.
CsvTable read_csv_data(const DataArgs& args);
// A new model's preprocessing from the flags: features default to every numeric column.
// Throws ValueError naming the flag for an unknown column or name.
ForecastPreprocess preprocess_from_flags(const ForecastFlags& flags, const CsvTable& table);
// The "nnkit.preprocess" of a model file; throws ValueError when the model was not trained
// on a CSV, FormatError when the entry is malformed.
ForecastPreprocess preprocess_of_model(const std::string& path,
                                       const std::map<std::string, std::string>& metadata);
// Per target: the model's forecast errors and the naive last-value forecast's, in original
// units, one line each.
std::string describe_forecast_errors(const ForecastPreprocess& preprocess, const Tensor& forecasts,
                                     const Tensor& naive, const Tensor& actual);

// The --report page of a training run: `facts`, the history's curves with the best epoch and,
// for a CSV run with a validation part, its forecasts against the actual values beside the
// naive forecast's, per target, with a table of their errors.
TrainingReport training_report(const std::string& title,
                               std::vector<std::pair<std::string, std::string>> facts,
                               const History& history, std::optional<int> best_epoch,
                               const ForecastPreprocess* preprocess,
                               const ForecastTrainingData* series, const Tensor* forecasts);

struct Data {
  Tensor x, y;  // y stays empty without targets
};
// Loads what the flags name: IDX images as [N, 1, H, W] in [0, 1] and labels as [N] class
// indices. Throws FormatError naming the flag and file, and both IDX files when their counts
// differ.
Data read_data(const DataArgs& args);
// For train and evaluate, after read_data(): --x without --y takes the inputs as targets when
// the model's spec says "target": "input", and otherwise throws ValueError "--x requires --y".
// Does nothing for --idx (which needs --labels) or --csv, or when --y was given.
void resolve_targets(const DataArgs& args, const Sequential& model, Data& data);

}  // namespace nnkit::cli
