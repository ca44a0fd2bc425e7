// nnkit train: a model from a spec (or continued from a model file) trained on arrays or IDX
// files.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "commands.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/callbacks.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"

namespace nnkit::cli {

namespace {

struct TrainArgs {
  std::string spec, model, out, optimizer, log;
  DataArgs data;
  std::optional<double> lr;
  std::optional<uint64_t> seed;
  int epochs = 1;
  int64_t batch_size = 32;
  int64_t tbptt_steps = 0;
  bool no_shuffle = false;
  double val_split = 0.0;
  std::optional<int> early_stopping;
  bool quiet = false;
};

// Throws ValueError when the loss of an epoch or a weight is NaN or infinite.
void check_finite_training(Sequential& model, const History& history) {
  const std::vector<double>& loss = history["loss"];
  for (std::size_t epoch = 0; epoch < loss.size(); ++epoch) {
    if (!std::isfinite(loss[epoch])) {
      throw ValueError(fmt::format(
          "training diverged: the loss became {} in epoch {}; no model written (a lower --lr "
          "or scaled inputs may help)",
          loss[epoch], epoch + 1));
    }
  }
  for (auto& [name, param] : model.named_params()) {
    for (float v : param->value) {
      if (!std::isfinite(v)) {
        throw ValueError(fmt::format(
            "training diverged: weight {} holds {}; no model written (a lower --lr may help)", name,
            v));
      }
    }
  }
}

void run_train(const TrainArgs& args) {
  check_output_path("--out", args.out);
  if (!args.log.empty()) check_output_path("--log", args.log);

  // A CSV time series: its preprocessing comes from the flags for a new model, from the model
  // file when training continues (scalers kept as they were fit).
  std::optional<ForecastPreprocess> preprocess;
  std::optional<ForecastTrainingData> series;
  std::optional<CsvTable> table;
  std::map<std::string, std::string> metadata;
  Sequential model;
  if (!args.spec.empty()) {
    nlohmann::json spec = read_spec_file(args.spec);
    if (!spec.is_object())
      throw ValueError(fmt::format("--spec {}: expected a JSON object", args.spec));
    if (args.seed) spec["seed"] = *args.seed;
    if (!spec.contains("loss"))
      throw ValueError(fmt::format("--spec {}: the spec has no \"loss\"", args.spec));
    if (!args.data.csv.empty()) {
      table = read_csv_data(args.data);
      preprocess = preprocess_from_flags(args.data.series, *table);
      // The windows' shape is the model's input: given by the flags, checked against the spec.
      const nlohmann::json shape = {preprocess->window,
                                    static_cast<int64_t>(preprocess->features.size())};
      if (spec.contains("input_shape") && spec["input_shape"] != shape) {
        throw ValueError(fmt::format(
            "--spec {}: input_shape {} disagrees with --window {} and {} feature columns ({}); "
            "leave input_shape out to take it from the data",
            args.spec, spec["input_shape"].dump(), preprocess->window, preprocess->features.size(),
            fmt::join(preprocess->features, ", ")));
      }
      spec["input_shape"] = shape;
    }
    try {
      model = Sequential::from_spec(spec);
    } catch (const Error& e) {
      throw ValueError(fmt::format("--spec {}: {}", args.spec, e.what()));
    }
  } else {
    model = load_model(args.model, &metadata);
    if (!args.data.csv.empty()) {
      preprocess = preprocess_of_model(args.model, metadata);
      if (!args.data.series.missing.empty()) {
        preprocess->missing = parse_missing_policy(args.data.series.missing);
      }
      table = read_csv_data(args.data);
    }
  }
  Tensor x, y;
  if (preprocess) {
    series = prepare_forecast_training(*table, *preprocess, args.val_split,
                                       /*fit_scalers=*/args.model.empty());
    x = series->x_train;
    y = series->y_train;
  } else {
    Data data = read_data(args.data);
    x = std::move(data.x);
    y = std::move(data.y);
  }

  // --optimizer replaces the spec's optimizer; --lr alone changes its learning rate.
  if (!args.optimizer.empty() || args.lr) {
    nlohmann::json opt = args.optimizer.empty() ? model.optimizer()->config()
                                                : nlohmann::json{{"type", args.optimizer}};
    if (opt.is_string()) opt = nlohmann::json{{"type", opt}};
    if (args.lr) opt["learning_rate"] = *args.lr;
    std::vector<std::string> metrics = model.metric_names();
    model.compile(make_optimizer(opt), make_loss(model.loss()->config()), metrics);
  }

  FitOptions fit;
  fit.epochs = args.epochs;
  fit.batch_size = args.batch_size;
  fit.shuffle = !args.no_shuffle;
  fit.tbptt_steps = args.tbptt_steps;
  if (series && series->validation.samples() > 0) {
    // Chronological: the validation samples are those whose target lies in the last part.
    fit.validation_data = std::make_pair(series->x_val, series->y_val);
  } else if (!series) {
    fit.validation_split = args.val_split;
  }
  fit.verbose = args.quiet ? 0 : 1;
  std::shared_ptr<EarlyStopping> early_stopping;
  if (args.early_stopping) {
    early_stopping = std::make_shared<EarlyStopping>(
        EarlyStoppingOptions{.monitor = args.val_split > 0 ? "val_loss" : "loss",
                             .patience = *args.early_stopping,
                             .restore_best_weights = true});
    fit.callbacks.push_back(early_stopping);
  }
  // The log is written beside its target and renamed at the end, so that a failed run
  // leaves no half-written file.
  std::string log_tmp;
  if (!args.log.empty()) {
    log_tmp = args.log + ".tmp";
    fit.callbacks.push_back(std::make_shared<CSVLogger>(CSVLoggerOptions{.filename = log_tmp}));
  }
  // A loss that turns NaN or infinite ends training at that batch, and nothing is written:
  // such weights are of no use, and the best earlier ones would hide that training diverged.
  fit.callbacks.push_back(std::make_shared<TerminateOnNaN>());
  try {
    const History history = model.fit(x, y, fit);
    check_finite_training(model, history);
  } catch (...) {
    if (!log_tmp.empty()) std::remove(log_tmp.c_str());
    throw;
  }
  if (early_stopping && !args.quiet && early_stopping->best_epoch() >= 0) {
    std::cout << fmt::format(
        "{}kept the weights of epoch {} ({} {:.6g})\n",
        early_stopping->stopped_epoch()
            ? fmt::format("early stopping after epoch {}; ", *early_stopping->stopped_epoch() + 1)
            : "",
        early_stopping->best_epoch() + 1, args.val_split > 0 ? "val_loss" : "loss",
        early_stopping->best_value());
  }
  std::map<std::string, std::string> extra;
  if (preprocess) extra["nnkit.preprocess"] = preprocess->to_json().dump();
  save_model(args.out, model, extra);
  if (series && series->validation.samples() > 0 && !args.quiet) {
    const Tensor forecasts =
        forecast_levels(*preprocess, model.predict(series->x_val), series->validation.last_targets);
    std::cout << "validation, original units:\n"
              << describe_forecast_errors(*preprocess, forecasts, series->validation.last_targets,
                                          series->validation.y);
  }
  if (!log_tmp.empty()) std::filesystem::rename(log_tmp, args.log);
  if (!args.quiet) std::cout << fmt::format("saved {}\n", args.out);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train a model on arrays, IDX files or a CSV time series and save it");
  auto* spec = cmd->add_option("--spec", args->spec, "Model spec (JSON) to build and train")
                   ->check(CLI::ExistingFile);
  auto* model =
      cmd->add_option("--model", args->model, "Model file (.safetensors) to continue training")
          ->check(CLI::ExistingFile);
  spec->excludes(model);
  add_data_options(cmd, args->data, /*targets=*/true);
  add_forecast_options(cmd, args->data, /*training=*/true);
  cmd->add_option("--out", args->out, "Where to write the trained model (.safetensors)")
      ->required();
  cmd->add_option("--epochs", args->epochs, "Passes over the data (default 1)")
      ->check(non_negative());
  cmd->add_option("--batch-size", args->batch_size,
                  "Samples per update: 1 stochastic, N (all) batch, else minibatch (default 32)")
      ->check(positive());
  cmd->add_option("--tbptt-steps", args->tbptt_steps,
                  "Truncated backpropagation through time in chunks of this many steps "
                  "(default 0: the whole sequence)")
      ->check(non_negative());
  cmd->add_flag("--no-shuffle", args->no_shuffle, "Keep the samples' order in every epoch");
  cmd->add_option("--optimizer", args->optimizer,
                  "sgd, adam, adamw, rmsprop or adagrad (default: the spec's)");
  cmd->add_option("--lr", args->lr, "Learning rate")->check(positive());
  cmd->add_option("--val-split", args->val_split,
                  "Fraction of the samples, from the end, held out for validation (with --csv: "
                  "the last rows; a sample is validation when its target row is there)")
      ->check(fraction());
  cmd->add_option("--seed", args->seed, "Seed for initial weights, shuffling and dropout");
  cmd->add_option("--early-stopping", args->early_stopping,
                  "Stop after PATIENCE epochs without improvement and keep the best weights")
      ->check(non_negative());
  cmd->add_option("--log", args->log, "Write one CSV row of loss and metrics per epoch");
  cmd->add_flag("--quiet", args->quiet, "No progress bar");
  cmd->callback([args, spec, model, cmd] {
    if (spec->count() + model->count() != 1) throw CLI::RequiredError("--spec or --model");
    require_data(args->data, /*targets=*/true);
    if (model->count() > 0) {
      // Continued training reads the CSV as the model file says; a flag that would read it
      // otherwise is refused rather than ignored (--time and --missing may change).
      for (const char* flag : {"--target", "--features", "--window", "--horizon", "--stride",
                               "--scale", "--target-transform"}) {
        if (cmd->get_option(flag)->count() > 0) {
          throw ValueError(fmt::format(
              "{}: training continued from --model {} reads the CSV as the model file says "
              "(its nnkit.preprocess); drop {}",
              flag, args->model, flag));
        }
      }
    }
    run_train(*args);
  });
}

}  // namespace nnkit::cli
