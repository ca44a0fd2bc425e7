// nnkit predict: a model's outputs for inputs from an array or an IDX file, or a forecasting
// model's forecasts for a CSV time series.
#include <memory>
#include <string>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/data/npy.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/model_file.h"

namespace nnkit::cli {

namespace {
struct PredictArgs {
  std::string model, out;
  DataArgs data;
  int64_t batch_size = Sequential::kInferenceBatch;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One row per forecast, in time order: the forecast for row t + horizon made from the window
// that ends at row t. The first column is the time column (empty for rows past the file's
// end) or, without one, "row": the 0-based data row the forecast is for.
std::string forecast_csv(const CsvTable& table, const ForecastPreprocess& preprocess,
                         const ForecastInputs& inputs, const Tensor& forecasts) {
  std::string out = table.time_name ? *table.time_name : "row";
  for (const auto& name : preprocess.targets) out += "," + name;
  out += "\n";
  const int64_t targets = static_cast<int64_t>(preprocess.targets.size());
  const int64_t kept = static_cast<int64_t>(inputs.kept_rows.size());
  for (std::size_t n = 0; n < inputs.target_rows.size(); ++n) {
    const int64_t r = inputs.target_rows[n];
    if (table.time_name) {
      // Quoted when it holds what CSV would split on.
      std::string time = r < kept ? table.time[inputs.kept_rows[r]] : "";
      if (time.find_first_of(",\"\n\r") != std::string::npos) {
        std::string quoted = "\"";
        for (char c : time) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        time = quoted + "\"";
      }
      out += time;
    } else {
      out +=
          std::to_string(r < kept ? inputs.kept_rows[r] : inputs.kept_rows.back() + r - kept + 1);
    }
    for (int64_t j = 0; j < targets; ++j) {
      out += fmt::format(",{:.9g}", forecasts[static_cast<int64_t>(n) * targets + j]);
    }
    out += "\n";
  }
  return out;
}
}  // namespace

void add_predict_command(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand("predict", "Run a model on inputs and write its outputs");
  cmd->add_option("--model", args->model, "Model file (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  add_data_options(cmd, args->data, /*targets=*/false);
  add_forecast_options(cmd, args->data, /*training=*/false);
  cmd->add_option("--out", args->out,
                  "Outputs, .npy (float32); with --csv, forecasts as CSV (or .npy)")
      ->required();
  cmd->add_option("--batch-size", args->batch_size, "Samples per forward pass")->check(positive());
  cmd->callback([args] {
    require_data(args->data, /*targets=*/false);
    check_output_path("--out", args->out);
    std::map<std::string, std::string> metadata;
    Sequential model = load_model(args->model, &metadata);
    if (args->data.csv.empty()) {
      write_npy(args->out, model.predict(read_data(args->data).x, args->batch_size));
      return;
    }
    ForecastPreprocess preprocess = preprocess_of_model(args->model, metadata);
    if (!args->data.series.missing.empty()) {
      preprocess.missing = parse_missing_policy(args->data.series.missing);
    }
    DataArgs data = args->data;
    if (data.series.time.empty() && preprocess.time_column)
      data.series.time = *preprocess.time_column;
    const CsvTable table = read_csv_data(data);
    const ForecastInputs inputs = prepare_forecast_inputs(table, preprocess);
    const Tensor forecasts =
        forecast_levels(preprocess, model.predict(inputs.x, args->batch_size), inputs.last_targets);
    if (ends_with(args->out, ".npy")) {
      write_npy(args->out, forecasts);
    } else {
      write_file_atomically(args->out, forecast_csv(table, preprocess, inputs, forecasts));
    }
  });
}

}  // namespace nnkit::cli
