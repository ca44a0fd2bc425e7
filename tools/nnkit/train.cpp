// nnkit train: a model from a spec (or continued from a model file) trained on arrays or IDX
// files.
#include <signal.h>

#include <chrono>
#include <cmath>
#include <csignal>
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
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/checkpoint.h"
#include "nnkit/io/model_file.h"

namespace nnkit::cli {

namespace {

struct TrainArgs {
  std::string spec, model, out, optimizer, log, report, checkpoint, resume;
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
  bool epochs_given = false;  // with --resume, --epochs changes the run's number of epochs
};

// The flags of a run, saved in its checkpoints so that --resume DIR alone continues it. Paths
// are made absolute: the run may be resumed from another directory.
nlohmann::json args_to_json(const TrainArgs& a) {
  auto absolute = [](const std::string& path) {
    return path.empty() ? path : std::filesystem::absolute(path).string();
  };
  const ForecastFlags& f = a.data.series;
  return {
      {"spec", absolute(a.spec)},
      {"model", absolute(a.model)},
      {"out", absolute(a.out)},
      {"log", absolute(a.log)},
      {"report", absolute(a.report)},
      {"optimizer", a.optimizer},
      {"x", absolute(a.data.x)},
      {"y", absolute(a.data.y)},
      {"idx", absolute(a.data.idx)},
      {"labels", absolute(a.data.labels)},
      {"csv", absolute(a.data.csv)},
      {"targets", f.targets},
      {"features", f.features},
      {"time", f.time},
      {"missing", f.missing},
      {"scale", f.scale},
      {"target_transform", f.target_transform},
      {"window", f.window},
      {"horizon", f.horizon},
      {"stride", f.stride},
      {"lr", a.lr ? nlohmann::json(*a.lr) : nlohmann::json()},
      {"seed", a.seed ? nlohmann::json(*a.seed) : nlohmann::json()},
      {"epochs", a.epochs},
      {"batch_size", a.batch_size},
      {"tbptt_steps", a.tbptt_steps},
      {"no_shuffle", a.no_shuffle},
      {"val_split", a.val_split},
      {"early_stopping", a.early_stopping ? nlohmann::json(*a.early_stopping) : nlohmann::json()}};
}

TrainArgs args_from_json(const nlohmann::json& j) {
  TrainArgs a;
  j.at("spec").get_to(a.spec);
  j.at("model").get_to(a.model);
  j.at("out").get_to(a.out);
  j.at("log").get_to(a.log);
  j.at("report").get_to(a.report);
  j.at("optimizer").get_to(a.optimizer);
  j.at("x").get_to(a.data.x);
  j.at("y").get_to(a.data.y);
  j.at("idx").get_to(a.data.idx);
  j.at("labels").get_to(a.data.labels);
  j.at("csv").get_to(a.data.csv);
  ForecastFlags& f = a.data.series;
  j.at("targets").get_to(f.targets);
  j.at("features").get_to(f.features);
  j.at("time").get_to(f.time);
  j.at("missing").get_to(f.missing);
  j.at("scale").get_to(f.scale);
  j.at("target_transform").get_to(f.target_transform);
  j.at("window").get_to(f.window);
  j.at("horizon").get_to(f.horizon);
  j.at("stride").get_to(f.stride);
  if (!j.at("lr").is_null()) a.lr = j.at("lr").get<double>();
  if (!j.at("seed").is_null()) a.seed = j.at("seed").get<uint64_t>();
  j.at("epochs").get_to(a.epochs);
  j.at("batch_size").get_to(a.batch_size);
  j.at("tbptt_steps").get_to(a.tbptt_steps);
  j.at("no_shuffle").get_to(a.no_shuffle);
  j.at("val_split").get_to(a.val_split);
  if (!j.at("early_stopping").is_null()) a.early_stopping = j.at("early_stopping").get<int>();
  return a;
}

// A fingerprint of the training arrays (FNV-1a over shapes and bytes): a run resumes only on
// the data it began with.
std::string data_fingerprint(const Tensor& x, const Tensor& y) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* data, std::size_t bytes) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 1099511628211ull;
  };
  for (const Tensor* t : {&x, &y}) {
    for (int64_t d : t->shape()) mix(&d, sizeof d);
    mix(t->data(), static_cast<std::size_t>(t->size()) * sizeof(float));
  }
  return fmt::format("{:016x}", h);
}

// Ctrl-C during fit() sets this; the checkpoint callback saves after the batch at hand and
// stops. The handler is reset on delivery, so a second Ctrl-C ends the process at once.
volatile std::sig_atomic_t interrupt_requested = 0;
extern "C" void on_interrupt(int) { interrupt_requested = 1; }

class InterruptHandler {
 public:
  InterruptHandler() {
    interrupt_requested = 0;
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptHandler() { sigaction(SIGINT, &previous_, nullptr); }
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

 private:
  struct sigaction previous_ {};
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

// The checkpoint --resume DIR names, and the run's own flags from it (--epochs and --quiet of
// this command kept).
std::pair<Sequential, TrainArgs> resume_run(const TrainArgs& given, Checkpoint& checkpoint,
                                            std::map<std::string, std::string>& metadata) {
  const std::string path = (std::filesystem::path(given.resume) / "last.safetensors").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw IoError(
        fmt::format("--resume {}: no checkpoint there ({} does not exist)", given.resume, path));
  }
  Sequential model = load_checkpoint(path, &checkpoint, &metadata);
  TrainArgs args;
  try {
    args = args_from_json(checkpoint.extra.at("user").at("args"));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: not a checkpoint of nnkit train (its flags are missing: {})",
                                  path, e.what()));
  }
  args.checkpoint = args.resume = given.resume;
  args.quiet = given.quiet;
  if (given.epochs_given) args.epochs = given.epochs;
  return {std::move(model), std::move(args)};
}

void run_train(TrainArgs args) {
  std::optional<Checkpoint> resumed;
  std::map<std::string, std::string> metadata;
  Sequential model;
  if (!args.resume.empty()) {
    resumed.emplace();
    std::tie(model, args) = resume_run(args, *resumed, metadata);
  }
  check_output_path("--out", args.out);
  if (!args.log.empty()) check_output_path("--log", args.log);
  if (!args.report.empty()) check_output_path("--report", args.report);
  const auto started = std::chrono::steady_clock::now();
  // Where checkpoints go: --checkpoint DIR, or beside --out for a Ctrl-C alone.
  const bool every_epoch = !args.checkpoint.empty();
  const std::string checkpoint_dir =
      every_epoch ? args.checkpoint
                  : std::filesystem::path(args.out).replace_extension(".checkpoint").string();
  if (every_epoch && !resumed) {
    // The directory is made on the first save; its parent must exist.
    std::error_code ec;
    const std::filesystem::path dir(args.checkpoint);
    if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec)) {
      throw IoError(fmt::format("--checkpoint {}: is not a directory", args.checkpoint));
    }
    if (!std::filesystem::is_directory(dir, ec)) check_output_path("--checkpoint", args.checkpoint);
    if (std::filesystem::exists(std::filesystem::path(args.checkpoint) / "last.safetensors", ec)) {
      throw ValueError(fmt::format(
          "--checkpoint {}: holds the checkpoint of an earlier run; continue it with --resume {} "
          "or choose another directory",
          args.checkpoint, args.checkpoint));
    }
  }

  // A CSV time series: its preprocessing comes from the flags for a new model, from the model
  // file when training continues (scalers kept as they were fit).
  std::optional<ForecastPreprocess> preprocess;
  std::optional<ForecastTrainingData> series;
  std::optional<CsvTable> table;
  if (resumed) {
    if (!args.data.csv.empty()) {
      preprocess = preprocess_of_model(args.resume, metadata);
      table = read_csv_data(args.data);
    }
  } else if (!args.spec.empty()) {
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
                                       /*fit_scalers=*/args.model.empty() && !resumed);
    x = series->x_train;
    y = series->y_train;
  } else {
    Data data = read_data(args.data);
    resolve_targets(args.data, model, data);
    x = std::move(data.x);
    y = std::move(data.y);
  }
  const std::string fingerprint = data_fingerprint(x, y);
  if (resumed && resumed->extra.at("user").value("data", "") != fingerprint) {
    throw ValueError(fmt::format(
        "--resume {}: the training data differ from those the run began with (was a file "
        "changed?); nothing resumed",
        args.resume));
  }

  // --optimizer replaces the spec's optimizer; --lr alone changes its learning rate. A resumed
  // run has its optimizer, with its state, from the checkpoint.
  if (!resumed && (!args.optimizer.empty() || args.lr)) {
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
  if (resumed) fit.resume = resumed->position;
  if (series && series->validation.samples() > 0) {
    // Chronological: the validation samples are those whose target lies in the last part.
    fit.validation_data = std::make_pair(series->x_val, series->y_val);
  } else if (!series) {
    fit.validation_split = args.val_split;
  }
  fit.verbose = args.quiet ? 0 : 1;
  const std::string monitor = args.val_split > 0 ? "val_loss" : "loss";
  std::shared_ptr<EarlyStopping> early_stopping;
  if (args.early_stopping) {
    early_stopping = std::make_shared<EarlyStopping>(EarlyStoppingOptions{
        .monitor = monitor, .patience = *args.early_stopping, .restore_best_weights = true});
    fit.callbacks.push_back(early_stopping);
  }
  // The log is written beside its target and renamed at the end, so that a failed run
  // leaves no half-written file; a resumed run starts from the rows its checkpoint kept.
  std::string log_tmp;
  if (!args.log.empty()) {
    log_tmp = args.log + ".tmp";
    if (resumed) write_file_atomically(log_tmp, resumed->extra.at("user").value("log", ""));
    fit.callbacks.push_back(std::make_shared<CSVLogger>(
        CSVLoggerOptions{.filename = log_tmp, .append = resumed.has_value()}));
  }
  // A loss that turns NaN or infinite ends training at that batch, and nothing is written:
  // such weights are of no use, and the best earlier ones would hide that training diverged.
  fit.callbacks.push_back(std::make_shared<TerminateOnNaN>());
  std::map<std::string, std::string> extra;
  if (preprocess) extra["nnkit.preprocess"] = preprocess->to_json().dump();
  const nlohmann::json args_json = args_to_json(args);
  auto checkpoints = std::make_shared<CheckpointCallback>(CheckpointOptions{
      .directory = checkpoint_dir,
      .monitor = monitor,
      .every_epoch = every_epoch,
      .metadata = extra,
      .early_stopping = early_stopping,
      .extra =
          [&] {
            return nlohmann::json{{"args", args_json},
                                  {"data", fingerprint},
                                  {"log", log_tmp.empty() ? std::string() : read_file(log_tmp)}};
          },
      .interrupt = &interrupt_requested});
  if (resumed) checkpoints->resume(*resumed);
  fit.callbacks.push_back(checkpoints);
  try {
    InterruptHandler on_ctrl_c;
    const History history = model.fit(x, y, fit);
    check_finite_training(model, history);
  } catch (...) {
    if (!log_tmp.empty()) std::remove(log_tmp.c_str());
    throw;
  }
  if (checkpoints->interrupted()) {
    if (!log_tmp.empty()) std::remove(log_tmp.c_str());
    const FitPosition& at = model.fit_position();
    throw Interrupted(fmt::format(
        "interrupted: saved a checkpoint after batch {} of epoch {} in {}; continue with: nnkit "
        "train --resume {}",
        at.step, at.epoch + 1, checkpoint_dir, checkpoint_dir));
  }
  if (early_stopping && !args.quiet && early_stopping->best_epoch() >= 0) {
    std::cout << fmt::format(
        "{}kept the weights of epoch {} ({} {:.6g})\n",
        early_stopping->stopped_epoch()
            ? fmt::format("early stopping after epoch {}; ", *early_stopping->stopped_epoch() + 1)
            : "",
        early_stopping->best_epoch() + 1, monitor, early_stopping->best_value());
  }
  save_model(args.out, model, extra);
  std::optional<Tensor> forecasts;
  if (series && series->validation.samples() > 0) {
    // A stateful model forecasts in batches of its training's size (fit checked it divides).
    const int64_t batch = model.stateful() ? args.batch_size : Sequential::kInferenceBatch;
    forecasts = forecast_levels(*preprocess, model.predict(series->x_val, batch),
                                series->validation.last_targets);
  }
  if (forecasts && !args.quiet) {
    std::cout << "validation, original units:\n"
              << describe_forecast_errors(*preprocess, *forecasts, series->validation.last_targets,
                                          series->validation.y);
  }
  if (!args.report.empty()) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::vector<std::string> layers;
    int64_t parameters = 0;
    for (std::size_t i = 0; i < model.size(); ++i) {
      layers.push_back(model.layer(i).type());
      parameters += model.layer(i).param_count();
    }
    std::vector<std::pair<std::string, std::string>> facts = {
        {"model file", args.out},
        {"layers", fmt::format("{} ({} parameters)", fmt::join(layers, ", "), parameters)},
        {"data", !args.data.csv.empty() ? args.data.csv
                                        : (!args.data.x.empty() ? args.data.x : args.data.idx)},
        {"training samples", std::to_string(x.dim(0))},
        {"epochs", fmt::format("{} of {} (batch size {})", checkpoints->history().epochs(),
                               args.epochs, args.batch_size)},
        {"optimizer", model.optimizer()->config().dump()},
        {"time", fmt::format("{:.1f} s{}", seconds, resumed ? " (since the resume)" : "")}};
    if (preprocess) {
      facts.insert(
          facts.begin() + 3,
          {"forecast", fmt::format("{} from a window of {} rows of {}, {} row(s) ahead",
                                   fmt::join(preprocess->targets, ", "), preprocess->window,
                                   fmt::join(preprocess->features, ", "), preprocess->horizon)});
    }
    std::optional<int> best;
    if (early_stopping && early_stopping->best_epoch() >= 0) best = early_stopping->best_epoch();
    write_html_report(
        args.report,
        training_report(fmt::format("nnkit train: {}", args.out), std::move(facts),
                        checkpoints->history(), best, preprocess ? &*preprocess : nullptr,
                        series ? &*series : nullptr, forecasts ? &*forecasts : nullptr));
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
  cmd->add_option("--out", args->out, "Where to write the trained model (.safetensors)");
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
  cmd->add_option("--report", args->report,
                  "Write an HTML page (self-contained, no network) with the loss curves and, for "
                  "a CSV, the validation forecasts against the actual values");
  cmd->add_option("--checkpoint", args->checkpoint,
                  "Directory for checkpoints: last.safetensors after every epoch (to --resume "
                  "from), best.safetensors (a model file of the best epoch)");
  cmd->add_option("--resume", args->resume,
                  "Continue the run whose checkpoints are in this directory, with its flags "
                  "(--epochs may raise the number of epochs)");
  cmd->add_flag("--quiet", args->quiet, "No progress bar");
  cmd->callback([args, spec, model, cmd] {
    args->epochs_given = cmd->get_option("--epochs")->count() > 0;
    if (!args->resume.empty()) {
      // The run's flags are in its checkpoint; a flag given again could only disagree.
      for (const CLI::Option* option : cmd->get_options()) {
        const std::string name = option->get_name();
        if (option->count() > 0 && name != "--resume" && name != "--epochs" && name != "--quiet") {
          throw ValueError(fmt::format(
              "{}: --resume {} continues the run with the flags it began with; drop {} (only "
              "--epochs and --quiet may be given)",
              name, args->resume, name));
        }
      }
      run_train(*args);
      return;
    }
    if (spec->count() + model->count() != 1) throw CLI::RequiredError("--spec or --model");
    if (args->out.empty()) throw CLI::RequiredError("--out");
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
