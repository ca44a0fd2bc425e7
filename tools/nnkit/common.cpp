#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "commands.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/data/idx.h"
#include "nnkit/data/npy.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"

namespace nnkit::cli {

namespace {
CLI::Validator number_check(const std::string& description, bool (*ok)(double)) {
  return CLI::Validator(
      [description, ok](std::string& text) -> std::string {
        try {
          std::size_t used = 0;
          double v = std::stod(text, &used);
          if (used == text.size() && ok(v)) return "";
        } catch (const std::exception&) {
        }
        return "must be " + description + ", got '" + text + "'";
      },
      description);
}
}  // namespace

CLI::Validator positive() {
  return number_check("a number > 0", [](double v) { return v > 0; });
}
CLI::Validator non_negative() {
  return number_check("a number >= 0", [](double v) { return v >= 0; });
}
CLI::Validator fraction() {
  return number_check("a fraction in [0, 1)", [](double v) { return v >= 0 && v < 1; });
}

nlohmann::json read_spec_file(const std::string& path) {
  std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset of the error; turn it into a line and column.
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw FormatError(fmt::format("{}:{}:{}: invalid JSON", path, line, column));
  }
}

void check_output_path(const std::string& flag, const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw IoError(fmt::format("{} {}: directory '{}' does not exist", flag, path, dir.string()));
  }
  if (fs::is_directory(p, ec)) throw IoError(fmt::format("{} {}: is a directory", flag, path));
}

Tensor read_array(const std::string& flag, const std::string& path) {
  try {
    return read_npy(path);
  } catch (const Error& e) {
    throw FormatError(fmt::format("{}: {}", flag, e.what()));
  }
}

void add_data_options(CLI::App* cmd, DataArgs& args, bool targets) {
  auto* x =
      cmd->add_option("--x", args.x, "Inputs, .npy (float32 or float64)")->check(CLI::ExistingFile);
  CLI::Option* y = nullptr;
  if (targets) y = cmd->add_option("--y", args.y, "Targets, .npy")->check(CLI::ExistingFile);
  auto* idx = cmd->add_option("--idx", args.idx,
                              "Images instead of --x: IDX, gzip or plain, [N, H, W] uint8 "
                              "loaded as [N, 1, H, W] in [0, 1]")
                  ->check(CLI::ExistingFile);
  auto* csv = cmd->add_option("--csv", args.csv,
                              "A time series instead of --x: CSV with a header row, one row per "
                              "time step")
                  ->check(CLI::ExistingFile);
  x->excludes(idx);
  csv->excludes(x);
  csv->excludes(idx);
  if (!targets) return;
  auto* labels = cmd->add_option("--labels", args.labels,
                                 "Class labels for --idx: IDX, gzip or plain, [N] integers")
                     ->check(CLI::ExistingFile);
  // Each pair goes together and excludes the other: CLI11 names the offending flags. --x
  // without --y is checked by resolve_targets(), once the model is known: an autoencoder's spec
  // ("target": "input") needs no targets.
  y->needs(x);
  idx->needs(labels);
  labels->needs(idx);
  x->excludes(labels);
  y->excludes(idx);
  y->excludes(labels);
}

void add_forecast_options(CLI::App* cmd, DataArgs& args, bool training) {
  ForecastFlags& f = args.series;
  std::vector<CLI::Option*> options;
  options.push_back(cmd->add_option("--time", f.time,
                                    "The CSV's time column (default: the first column when it is "
                                    "not numeric), written back beside forecasts"));
  options.push_back(cmd->add_option("--missing", f.missing,
                                    "Missing cells (empty, NA, NaN): error, drop, ffill or "
                                    "interpolate (default: error; predict and evaluate: the "
                                    "model's)"));
  if (training) {
    options.push_back(
        cmd->add_option("--target", f.targets, "Column(s) to forecast: a[,b]")->delimiter(','));
    options.push_back(cmd->add_option("--features", f.features,
                                      "Input columns: a,b,c (default: every numeric column)")
                          ->delimiter(','));
    options.push_back(cmd->add_option("--window", f.window, "Past steps per sample (default 24)")
                          ->check(positive()));
    options.push_back(cmd->add_option("--horizon", f.horizon,
                                      "Forecast this many steps after the window's last step "
                                      "(default 1)")
                          ->check(positive()));
    options.push_back(
        cmd->add_option("--stride", f.stride, "Steps between training windows (default 1)")
            ->check(positive()));
    options.push_back(cmd->add_option("--scale", f.scale,
                                      "standard, minmax or none, fit on the training part "
                                      "(default standard)"));
    options.push_back(cmd->add_option("--target-transform", f.target_transform,
                                      "none, or delta: learn the change from the last observed "
                                      "value (default none)"));
  }
  // Each needs --csv: CLI11 then names the flag given without it.
  CLI::Option* csv = cmd->get_option("--csv");
  for (CLI::Option* o : options) o->needs(csv);
}

void require_data(const DataArgs& args, bool targets) {
  if (args.x.empty() && args.idx.empty() && args.csv.empty()) {
    throw CLI::RequiredError(targets ? "--x/--y, --idx/--labels or --csv" : "--x, --idx or --csv");
  }
}

CsvTable read_csv_data(const DataArgs& args) {
  CsvOptions options;
  if (!args.series.time.empty()) options.time_column = args.series.time;
  try {
    return read_csv(args.csv, options);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("--csv: {}", e.what()));
  }
}

ForecastPreprocess preprocess_from_flags(const ForecastFlags& flags, const CsvTable& table) {
  ForecastPreprocess p;
  if (flags.targets.empty()) throw CLI::RequiredError("--target (with --csv)");
  p.time_column = table.time_name;
  p.targets = flags.targets;
  p.features = flags.features.empty() ? table.columns : flags.features;
  auto check = [&](const char* flag, const std::vector<std::string>& names) {
    for (const auto& name : names) {
      try {
        table.column_index(name);
      } catch (const ValueError& e) {
        throw ValueError(fmt::format("{} {}: {}", flag, name, e.what()));
      }
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (std::find(names.begin(), names.begin() + i, names[i]) != names.begin() + i) {
        throw ValueError(fmt::format("{}: \"{}\" is listed twice", flag, names[i]));
      }
    }
  };
  check("--target", p.targets);
  check("--features", p.features);
  p.window = flags.window;
  p.horizon = flags.horizon;
  p.stride = flags.stride;
  auto flag_value = [](const char* flag, auto parse, const std::string& value) {
    try {
      return parse(value);
    } catch (const ValueError& e) {
      throw ValueError(fmt::format("{}: {}", flag, e.what()));
    }
  };
  if (!flags.missing.empty()) {
    p.missing = flag_value("--missing", parse_missing_policy, flags.missing);
  }
  p.target_transform =
      flag_value("--target-transform", parse_target_transform, flags.target_transform);
  const ScalerKind kind = flag_value("--scale", parse_scaler_kind, flags.scale);
  p.feature_scaler = Scaler(kind);
  p.target_scaler = Scaler(kind);
  return p;
}

ForecastPreprocess preprocess_of_model(const std::string& path,
                                       const std::map<std::string, std::string>& metadata) {
  const auto it = metadata.find("nnkit.preprocess");
  if (it == metadata.end()) {
    throw ValueError(fmt::format(
        "--model {}: the model was not trained on a CSV (no \"nnkit.preprocess\"); use --x", path));
  }
  try {
    return ForecastPreprocess::from_json(nlohmann::json::parse(it->second));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: \"nnkit.preprocess\" is not valid JSON", path));
  } catch (const FormatError& e) {
    throw FormatError(fmt::format("{}: {}", path, e.what()));
  }
}

std::string describe_forecast_errors(const ForecastPreprocess& preprocess, const Tensor& forecasts,
                                     const Tensor& naive, const Tensor& actual) {
  const std::vector<ForecastErrors> model = forecast_errors(forecasts, actual);
  const std::vector<ForecastErrors> last = forecast_errors(naive, actual);
  std::string out;
  for (std::size_t j = 0; j < model.size(); ++j) {
    out += fmt::format(
        "{}: rmse {:.6g} - mae {:.6g} - mape {:.3g}% | naive last value: rmse {:.6g} - mae "
        "{:.6g} - mape {:.3g}% ({} forecasts)\n",
        preprocess.targets[j], model[j].rmse, model[j].mae, model[j].mape, last[j].rmse,
        last[j].mae, last[j].mape, model[j].count);
  }
  return out;
}

TrainingReport training_report(const std::string& title,
                               std::vector<std::pair<std::string, std::string>> facts,
                               const History& history, std::optional<int> best_epoch,
                               const ForecastPreprocess* preprocess,
                               const ForecastTrainingData* series, const Tensor* forecasts) {
  TrainingReport report;
  report.title = title;
  report.facts = std::move(facts);
  for (const std::string& name : history.names) {
    report.curves.push_back({name, history[name]});
  }
  if (best_epoch && *best_epoch >= 0 && *best_epoch < history.epochs())
    report.best_epoch = best_epoch;
  if (preprocess == nullptr || series == nullptr || forecasts == nullptr ||
      series->validation.samples() == 0) {
    return report;
  }
  const Windows& val = series->validation;
  const std::vector<ForecastErrors> model = forecast_errors(*forecasts, val.y);
  const std::vector<ForecastErrors> naive = forecast_errors(val.last_targets, val.y);
  report.metrics_table.push_back(
      {"target", "RMSE", "MAE", "MAPE", "naive RMSE", "naive MAE", "naive MAPE", "forecasts"});
  const int64_t n = val.samples(), targets = val.y.dim(1);
  for (int64_t j = 0; j < targets; ++j) {
    const auto& m = model[static_cast<std::size_t>(j)];
    const auto& l = naive[static_cast<std::size_t>(j)];
    report.metrics_table.push_back({preprocess->targets[static_cast<std::size_t>(j)],
                                    fmt::format("{:.4g}", m.rmse), fmt::format("{:.4g}", m.mae),
                                    fmt::format("{:.3g}%", m.mape), fmt::format("{:.4g}", l.rmse),
                                    fmt::format("{:.4g}", l.mae), fmt::format("{:.3g}%", l.mape),
                                    std::to_string(m.count)});
    ReportForecast f;
    f.target = preprocess->targets[static_cast<std::size_t>(j)];
    if (!series->validation_times.empty()) {
      f.x_name = preprocess->time_column.value_or("time");
      f.labels = series->validation_times;
    } else {
      f.x_name = "row";
      for (int64_t row : val.target_rows) f.labels.push_back(std::to_string(row));
    }
    for (int64_t i = 0; i < n; ++i) {
      f.actual.push_back(val.y[i * targets + j]);
      f.predicted.push_back((*forecasts)[i * targets + j]);
      f.naive.push_back(val.last_targets[i * targets + j]);
    }
    report.forecasts.push_back(std::move(f));
  }
  return report;
}

void resolve_targets(const DataArgs& args, const Sequential& model, Data& data) {
  if (args.x.empty() || !args.y.empty()) return;
  if (!model.target_is_input()) {
    throw ValueError(
        "--x requires --y: the model's loss compares its output with targets (a spec with "
        "\"target\": \"input\", an autoencoder, trains on --x alone)");
  }
  data.y = data.x;
}

Data read_data(const DataArgs& args) {
  Data data;
  if (args.idx.empty()) {
    data.x = read_array("--x", args.x);
    if (!args.y.empty()) data.y = read_array("--y", args.y);
    return data;
  }
  auto read = [](const std::string& flag, const std::string& path,
                 Tensor (*reader)(const std::string&)) {
    try {
      return reader(path);
    } catch (const Error& e) {
      throw FormatError(fmt::format("{}: {}", flag, e.what()));
    }
  };
  data.x = read("--idx", args.idx, read_idx_images);
  if (args.labels.empty()) return data;
  data.y = read("--labels", args.labels, read_idx_labels);
  if (data.x.dim(0) != data.y.dim(0)) {
    throw FormatError(fmt::format("--idx {} holds {} images but --labels {} holds {} labels",
                                  args.idx, data.x.dim(0), args.labels, data.y.dim(0)));
  }
  return data;
}

}  // namespace nnkit::cli
