// nnkit demo: the main job on its embedded data — forecasting heart rate an hour ahead from
// a day of six vital signs with an LSTM of 128 units (the reference configuration), from the
// CSV to the model file to forecasts. `--xor`: the design notes' classic backpropagation
// learning XOR, then the same task with Sequential.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/callbacks.h"
#include "nnkit/data/synthetic_vitals.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/model_file.h"
#include "nnkit/layers/dense.h"
#include "nnkit/layers/lstm.h"
#include "nnkit/models/classic_bp.h"

namespace nnkit::cli {

namespace {

void run_xor_demo(uint64_t seed) {
  const Tensor x({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
  const Tensor t({4, 1}, {0, 1, 1, 0});

  std::cout
      << "Classic backpropagation (the design notes' algorithm) on XOR: 2-4-1 sigmoid network,\n"
         "weights uniform in (-1, 1), one random sample per step, learning rate 0.5, precision "
         "1e-3\n";
  ClassicBP bp({.layer_sizes = {2, 4, 1},
                .learning_rate = 0.5f,
                .precision = 1e-3,
                .max_iterations = 200000,
                .seed = seed});
  ClassicBPResult r = bp.train(x, t);
  std::cout << fmt::format("  {} after {} steps, error {:.6f}\n",
                           r.converged ? "converged" : "stopped", r.iterations, r.error);
  Tensor out = bp.predict(x);
  for (int i = 0; i < 4; ++i) {
    std::cout << fmt::format("  {:.0f} xor {:.0f} -> {:.4f} (target {:.0f})\n", x[2 * i],
                             x[2 * i + 1], out[i], t[i]);
  }

  std::cout << "\nThe same with Sequential: Dense(8, tanh) -> Dense(1, sigmoid), binary "
               "cross-entropy, Adam\n";
  Sequential model({.input_shape = {2}, .seed = seed});
  model.add(Dense({.units = 8, .activation = "tanh"}));
  model.add(Dense({.units = 1, .activation = "sigmoid"}));
  model.compile(make_adam({.learning_rate = 0.05f}), make_loss("binary_crossentropy"),
                {"accuracy"});
  std::cout << model.summary();
  History h = model.fit(x, t, {.epochs = 300, .batch_size = 4});
  std::cout << fmt::format("  after {} epochs: loss {:.5f}, accuracy {:.2f}\n", h.epochs(),
                           h["loss"].back(), h["accuracy"].back());
  Tensor p = model.predict(x);
  for (int i = 0; i < 4; ++i) {
    std::cout << fmt::format("  {:.0f} xor {:.0f} -> {:.4f}\n", x[2 * i], x[2 * i + 1], p[i]);
  }
}

struct DemoArgs {
  uint64_t seed = 1;
  std::string out = "nnkit-demo";
  int epochs = 60, days = 120;
  bool xor_demo = false;
};

void run_health_demo(const DemoArgs& args) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(args.out, ec);
  if (!fs::is_directory(args.out)) {
    throw IoError(fmt::format("--out {}: cannot create the directory", args.out));
  }
  const std::string csv = (fs::path(args.out) / "vitals.csv").string();
  const std::string model_path = (fs::path(args.out) / "health.safetensors").string();
  write_file_atomically(csv, synthetic_vitals_csv(args.days, args.seed));
  const CsvTable table = read_csv(csv);
  std::cout << fmt::format("Data: {} ({} hourly rows of {}; synthetic, see data/README.md)\n", csv,
                           table.rows(), fmt::join(table.columns, ", "));

  // What `nnkit train --csv vitals.csv --target heart_rate --window 24 --missing interpolate
  // --val-split 0.2 --early-stopping 8` does, step by step.
  ForecastFlags flags;
  flags.targets = {"heart_rate"};
  flags.missing = "interpolate";
  ForecastPreprocess preprocess = preprocess_from_flags(flags, table);
  const ForecastTrainingData data = prepare_forecast_training(table, preprocess, 0.2);
  std::cout << fmt::format(
      "Task: heart_rate one hour ahead from the last 24 hours of all {} columns; {} training "
      "and {} validation windows (the last 20% of the hours)\n\n",
      preprocess.features.size(), data.x_train.dim(0), data.x_val.dim(0));

  Sequential model(
      {.input_shape = {preprocess.window, static_cast<int64_t>(preprocess.features.size())},
       .seed = args.seed});
  model.add(LSTM({.units = 128}));
  model.add(Dense({.units = 1}));
  model.compile(make_adam({.learning_rate = 1e-3f}), make_loss("mse"), {"mae"});
  std::cout << model.summary() << "\n";
  auto early_stopping = std::make_shared<EarlyStopping>(
      EarlyStoppingOptions{.monitor = "val_loss", .patience = 8, .restore_best_weights = true});
  const auto started = std::chrono::steady_clock::now();
  const History history = model.fit(data.x_train, data.y_train,
                                    {.epochs = args.epochs,
                                     .batch_size = 32,
                                     .validation_data = std::make_pair(data.x_val, data.y_val),
                                     .callbacks = {early_stopping},
                                     .verbose = 1});
  if (early_stopping->best_epoch() >= 0) {
    std::cout << fmt::format("kept the weights of epoch {} (val_loss {:.6g})\n",
                             early_stopping->best_epoch() + 1, early_stopping->best_value());
  }
  save_model(model_path, model, {{"nnkit.preprocess", preprocess.to_json().dump()}});

  const Tensor forecasts =
      forecast_levels(preprocess, model.predict(data.x_val), data.validation.last_targets);
  std::cout << "\nValidation forecasts, original units (bpm):\n"
            << describe_forecast_errors(preprocess, forecasts, data.validation.last_targets,
                                        data.validation.y);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string report_path = (fs::path(args.out) / "report.html").string();
  std::optional<int> best;
  if (early_stopping->best_epoch() >= 0) best = early_stopping->best_epoch();
  write_html_report(
      report_path,
      training_report(
          "nnkit demo: heart rate an hour ahead",
          {{"data", fmt::format("{} ({} hourly rows; synthetic vital signs, data/README.md)", csv,
                                table.rows())},
           {"forecast", fmt::format("heart_rate one hour ahead from the last {} hours of {}",
                                    preprocess.window, fmt::join(preprocess.features, ", "))},
           {"model", "LSTM(128) -> Dense(1), Adam 1e-3, batch 32, early stopping (patience 8)"},
           {"samples", fmt::format("{} training, {} validation (the last 20% of the hours)",
                                   data.x_train.dim(0), data.x_val.dim(0))},
           {"epochs", std::to_string(history.epochs())},
           {"training time", fmt::format("{:.1f} s", seconds)},
           {"model file", model_path}},
          history, best, &preprocess, &data, &forecasts));
  std::cout << fmt::format(
      "\nSaved {} and the report {}. Forecasts for every hour of the file (the last one is the "
      "next hour):\n"
      "  build/nnkit predict --model {} --csv {} --out {}\n",
      model_path, report_path, model_path, csv, (fs::path(args.out) / "forecast.csv").string());
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Run the main job on its embedded data: an LSTM forecasting heart rate");
  cmd->add_option("--seed", args->seed, "Random seed (data and weights)");
  cmd->add_option("--out", args->out, "Directory for vitals.csv and health.safetensors")
      ->capture_default_str();
  cmd->add_option("--epochs", args->epochs, "At most this many epochs (early stopping)")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--days", args->days, "Days of hourly data to generate")
      ->check(positive())
      ->capture_default_str();
  cmd->add_flag("--xor", args->xor_demo,
                "Instead: the design notes' classic backpropagation on XOR");
  cmd->callback([args] {
    if (args->xor_demo) {
      run_xor_demo(args->seed);
    } else {
      run_health_demo(*args);
    }
  });
}

}  // namespace nnkit::cli
