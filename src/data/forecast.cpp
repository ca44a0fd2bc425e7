#include "nnkit/data/forecast.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {

// Features first, then the targets that are not features: the columns the pipeline reads.
std::vector<std::string> used_columns(const ForecastPreprocess& p) {
  std::vector<std::string> names = p.features;
  for (const auto& t : p.targets) {
    if (std::find(names.begin(), names.end(), t) == names.end()) names.push_back(t);
  }
  return names;
}

// The used columns of the table after the missing policy, and the window options indexing
// them.
struct Series {
  CsvTable table;
  WindowOptions options;
};

Series series_of(const CsvTable& table, const ForecastPreprocess& p) {
  check_forecast_columns(table, p);
  const std::vector<std::string> names = used_columns(p);
  Series s{select_columns(table, names), {}};
  apply_missing(s.table, p.missing);
  s.options.window = p.window;
  s.options.horizon = p.horizon;
  s.options.stride = p.stride;
  auto index = [&](const std::string& name) {
    return static_cast<int64_t>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  for (const auto& f : p.features) s.options.feature_columns.push_back(index(f));
  for (const auto& t : p.targets) s.options.target_columns.push_back(index(t));
  return s;
}

// A series too short for even one window is a problem of the file: say which.
template <typename F>
auto naming_file(const CsvTable& table, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: {}", table.path, e.what()));
  }
}

std::vector<std::string> string_list(const nlohmann::json& json, const char* field) {
  const auto it = json.find(field);
  if (it == json.end() || !it->is_array() || it->empty()) {
    throw FormatError(fmt::format("nnkit.preprocess: \"{}\" must be a non-empty list", field));
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& v : *it) {
    if (!v.is_string()) {
      throw FormatError(fmt::format("nnkit.preprocess: \"{}\" must hold strings", field));
    }
    if (!seen.insert(v.get<std::string>()).second) {
      throw FormatError(
          fmt::format("nnkit.preprocess: \"{}\" lists \"{}\" twice", field, v.get<std::string>()));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

int64_t positive_int(const nlohmann::json& json, const char* field) {
  const auto it = json.find(field);
  if (it == json.end() || !it->is_number_integer() || it->get<int64_t>() < 1 ||
      it->get<int64_t>() > (int64_t{1} << 40)) {
    throw FormatError(fmt::format("nnkit.preprocess: \"{}\" must be an integer >= 1", field));
  }
  return it->get<int64_t>();
}

std::string string_field(const nlohmann::json& json, const char* field) {
  const auto it = json.find(field);
  if (it == json.end() || !it->is_string()) {
    throw FormatError(fmt::format("nnkit.preprocess: \"{}\" must be a string", field));
  }
  return it->get<std::string>();
}

}  // namespace

nlohmann::json ForecastPreprocess::to_json() const {
  nlohmann::json j = {{"features", features},
                      {"targets", targets},
                      {"window", window},
                      {"horizon", horizon},
                      {"stride", stride},
                      {"missing", missing_policy_name(missing)},
                      {"target_transform", target_transform_name(target_transform)},
                      {"feature_scaler", feature_scaler.to_json()},
                      {"target_scaler", target_scaler.to_json()}};
  if (time_column) j["time_column"] = *time_column;
  return j;
}

ForecastPreprocess ForecastPreprocess::from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw FormatError("nnkit.preprocess: expected a JSON object");
  ForecastPreprocess p;
  p.features = string_list(json, "features");
  p.targets = string_list(json, "targets");
  p.window = positive_int(json, "window");
  p.horizon = positive_int(json, "horizon");
  p.stride = positive_int(json, "stride");
  if (json.contains("time_column")) p.time_column = string_field(json, "time_column");
  try {
    p.missing = parse_missing_policy(string_field(json, "missing"));
    p.target_transform = parse_target_transform(string_field(json, "target_transform"));
  } catch (const ValueError& e) {
    throw FormatError(fmt::format("nnkit.preprocess: {}", e.what()));
  }
  for (const char* field : {"feature_scaler", "target_scaler"}) {
    if (!json.contains(field)) {
      throw FormatError(fmt::format("nnkit.preprocess: \"{}\" is missing", field));
    }
  }
  p.feature_scaler = Scaler::from_json(json.at("feature_scaler"));
  p.target_scaler = Scaler::from_json(json.at("target_scaler"));
  if (p.feature_scaler.columns() != static_cast<int64_t>(p.features.size()) ||
      p.target_scaler.columns() != static_cast<int64_t>(p.targets.size())) {
    throw FormatError(fmt::format(
        "nnkit.preprocess: the scalers have {} and {} columns for {} features and {} targets",
        p.feature_scaler.columns(), p.target_scaler.columns(), p.features.size(),
        p.targets.size()));
  }
  return p;
}

void check_forecast_columns(const CsvTable& table, const ForecastPreprocess& preprocess) {
  for (const auto* names : {&preprocess.features, &preprocess.targets}) {
    for (const auto& name : *names) table.column_index(name);  // throws naming the columns
  }
}

ForecastTrainingData prepare_forecast_training(const CsvTable& table,
                                               ForecastPreprocess& preprocess, double val_fraction,
                                               bool fit_scalers) {
  Series s = series_of(table, preprocess);
  const Tensor& values = s.table.values;
  ForecastTrainingData out;
  WindowSplit parts = naming_file(table, [&] {
    out.split = split_chronological(s.table.rows(), val_fraction);
    return make_split_windows(values, s.options, out.split);
  });

  const Tensor z_train =
      apply_target_transform(preprocess.target_transform, parts.train.y, parts.train.last_targets);
  if (fit_scalers) {
    preprocess.feature_scaler.fit(select_columns(values, s.options.feature_columns),
                                  out.split.n_train);
    preprocess.target_scaler.fit(z_train, z_train.dim(0));
  }
  out.x_train = preprocess.feature_scaler.transform(parts.train.x);
  out.y_train = preprocess.target_scaler.transform(z_train);
  if (parts.validation.samples() > 0) {
    out.x_val = preprocess.feature_scaler.transform(parts.validation.x);
    out.y_val = preprocess.target_scaler.transform(apply_target_transform(
        preprocess.target_transform, parts.validation.y, parts.validation.last_targets));
  }
  out.validation = std::move(parts.validation);
  if (!s.table.time.empty()) {
    for (int64_t row : out.validation.target_rows) {
      out.validation_times.push_back(s.table.time[static_cast<std::size_t>(row)]);
    }
  }
  return out;
}

ForecastInputs prepare_forecast_inputs(const CsvTable& table,
                                       const ForecastPreprocess& preprocess) {
  Series s = series_of(table, preprocess);
  PredictionWindows w =
      naming_file(table, [&] { return make_prediction_windows(s.table.values, s.options); });
  ForecastInputs out;
  out.x = preprocess.feature_scaler.transform(w.x);
  out.last_targets = std::move(w.last_targets);
  out.end_rows = std::move(w.end_rows);
  out.target_rows = std::move(w.target_rows);
  // Rows after the policy back to the table's rows: `drop` removes some, and lines identify
  // them.
  std::map<int64_t, int64_t> row_of_line;
  for (int64_t r = 0; r < table.rows(); ++r) row_of_line[table.lines[r]] = r;
  for (int64_t line : s.table.lines) out.kept_rows.push_back(row_of_line.at(line));
  const int64_t targets = static_cast<int64_t>(s.options.target_columns.size());
  const int64_t columns = s.table.values.dim(1);
  const int64_t samples = static_cast<int64_t>(out.end_rows.size());
  out.actual = Tensor({samples, targets});
  for (int64_t n = 0; n < samples; ++n) {
    for (int64_t j = 0; j < targets; ++j) {
      out.actual[n * targets + j] =
          out.target_rows[n] < s.table.rows()
              ? s.table.values[out.target_rows[n] * columns + s.options.target_columns[j]]
              : std::numeric_limits<float>::quiet_NaN();
    }
  }
  return out;
}

Tensor forecast_levels(const ForecastPreprocess& preprocess, const Tensor& outputs,
                       const Tensor& last_targets) {
  return undo_target_transform(preprocess.target_transform,
                               preprocess.target_scaler.inverse_transform(outputs), last_targets);
}

std::vector<ForecastErrors> forecast_errors(const Tensor& forecasts, const Tensor& actual) {
  if (forecasts.shape() != actual.shape() || forecasts.rank() != 2) {
    throw ShapeError(fmt::format("forecast_errors: forecasts {} and actual values {} differ",
                                 shape_to_string(forecasts.shape()),
                                 shape_to_string(actual.shape())));
  }
  const int64_t n = actual.dim(0), targets = actual.dim(1);
  std::vector<ForecastErrors> out(targets);
  for (int64_t j = 0; j < targets; ++j) {
    double squares = 0.0, absolute = 0.0, percent = 0.0;
    int64_t percent_count = 0;
    ForecastErrors& e = out[j];
    for (int64_t i = 0; i < n; ++i) {
      const double a = actual[i * targets + j];
      if (std::isnan(a)) continue;
      const double error = forecasts[i * targets + j] - a;
      squares += error * error;
      absolute += std::fabs(error);
      if (a != 0.0) {
        percent += std::fabs(error / a);
        ++percent_count;
      }
      ++e.count;
    }
    if (e.count > 0) {
      e.rmse = std::sqrt(squares / e.count);
      e.mae = absolute / e.count;
    }
    if (percent_count > 0) e.mape = 100.0 * percent / percent_count;
  }
  return out;
}

}  // namespace nnkit
