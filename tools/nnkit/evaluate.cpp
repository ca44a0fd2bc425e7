// nnkit evaluate: a model's loss and metrics on arrays or IDX files.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"

namespace nnkit::cli {

namespace {
struct EvaluateArgs {
  std::string model;
  DataArgs data;
  int64_t batch_size = Sequential::kInferenceBatch;
  bool json = false;
};
// A forecasting model on a CSV: every forecast whose target row is in the file, against the
// actual values and beside the naive last-value forecast, in original units.
void evaluate_forecasts(const EvaluateArgs& args) {
  std::map<std::string, std::string> metadata;
  Sequential model = load_model(args.model, &metadata);
  ForecastPreprocess preprocess = preprocess_of_model(args.model, metadata);
  if (!args.data.series.missing.empty()) {
    preprocess.missing = parse_missing_policy(args.data.series.missing);
  }
  DataArgs data = args.data;
  if (data.series.time.empty() && preprocess.time_column)
    data.series.time = *preprocess.time_column;
  const CsvTable table = read_csv_data(data);
  const ForecastInputs inputs = prepare_forecast_inputs(table, preprocess);
  const Tensor forecasts =
      forecast_levels(preprocess, model.predict(inputs.x, args.batch_size), inputs.last_targets);
  const std::vector<ForecastErrors> errors = forecast_errors(forecasts, inputs.actual);
  const std::vector<ForecastErrors> naive = forecast_errors(inputs.last_targets, inputs.actual);
  if (errors.empty() || errors[0].count == 0) {
    throw ValueError(fmt::format(
        "--csv {}: no forecast has its target in the file ({} rows; window {} + horizon {} "
        "needs at least {})",
        args.data.csv, table.rows(), preprocess.window, preprocess.horizon,
        preprocess.window + preprocess.horizon));
  }
  if (args.json) {
    nlohmann::json out;
    for (std::size_t j = 0; j < errors.size(); ++j) {
      out[preprocess.targets[j]] = {{"rmse", errors[j].rmse},      {"mae", errors[j].mae},
                                    {"mape", errors[j].mape},      {"naive_rmse", naive[j].rmse},
                                    {"naive_mae", naive[j].mae},   {"naive_mape", naive[j].mape},
                                    {"forecasts", errors[j].count}};
    }
    std::cout << out.dump() << "\n";
  } else {
    std::cout << describe_forecast_errors(preprocess, forecasts, inputs.last_targets,
                                          inputs.actual);
  }
}

}  // namespace

void add_evaluate_command(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand("evaluate",
                                     "Print a model's loss and metrics on inputs and targets, or a "
                                     "forecasting model's errors on a CSV");
  cmd->add_option("--model", args->model, "Model file (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  add_data_options(cmd, args->data, /*targets=*/true);
  add_forecast_options(cmd, args->data, /*training=*/false);
  cmd->add_option("--batch-size", args->batch_size, "Samples per forward pass")->check(positive());
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->callback([args] {
    require_data(args->data, /*targets=*/true);
    if (!args->data.csv.empty()) {
      evaluate_forecasts(*args);
      return;
    }
    Sequential model = load_model(args->model);
    if (!model.compiled())
      throw ValueError(fmt::format("--model {}: the model's spec has no loss", args->model));
    Data data = read_data(args->data);
    resolve_targets(args->data, model, data);
    auto& [x, y] = data;
    // The forward passes alone are timed, without reading the model and the data, and after
    // one untimed batch (oneDNN generates its kernels on first use), so that the figure is
    // the model's inference speed.
    model.predict(x.slice_rows(0, std::min(args->batch_size, x.dim(0))), args->batch_size);
    const auto start = std::chrono::steady_clock::now();
    auto results = model.evaluate(x, y, args->batch_size);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double samples_per_second = seconds > 0.0 ? static_cast<double>(x.dim(0)) / seconds : 0.0;
    if (args->json) {
      nlohmann::json out;
      for (const auto& [name, value] : results) out[name] = value;
      out["seconds"] = seconds;
      out["samples_per_second"] = samples_per_second;
      std::cout << out.dump() << "\n";
    } else {
      std::cout << fmt::format("loss: {:.9g}", results.at("loss"));
      for (const auto& name : model.metric_names())
        std::cout << fmt::format(" - {}: {:.9g}", name, results.at(name));
      std::cout << fmt::format(" - {:.3f} s, {:.0f} samples/s\n", seconds, samples_per_second);
    }
  });
}

}  // namespace nnkit::cli
