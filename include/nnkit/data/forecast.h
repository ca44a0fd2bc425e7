// Forecasting from a CSV table: what turns the table's columns into network inputs and
// targets, and the network's outputs back into forecasts in original units. A model trained
// on a CSV keeps this (ForecastPreprocess) in its file as "nnkit.preprocess", so that predict
// reads new data exactly as train read the old.
//
// The pipeline (timeseries.h gives the reasons for its order):
//   1. missing cells of the feature and target columns: the policy (csv.h);
//   2. windows of `window` rows of the features, each predicting the targets `horizon` rows
//      after its last row; the validation samples are those whose target row lies in the last
//      fraction of the rows;
//   3. the target transform (none or delta) in original units;
//   4. the feature scaler, fit on the training rows of the feature columns, and the target
//      scaler, fit on the training samples' (transformed) targets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/data/csv.h"
#include "nnkit/data/scaler.h"
#include "nnkit/data/timeseries.h"
#include "nnkit/tensor.h"

namespace nnkit {

struct ForecastPreprocess {
  std::optional<std::string> time_column;  // the time column's header in the training file
  std::vector<std::string> features;       // the network's input columns, in order
  std::vector<std::string> targets;        // the forecast columns, in order
  int64_t window = 24, horizon = 1, stride = 1;
  MissingPolicy missing = MissingPolicy::kError;
  TargetTransform target_transform = TargetTransform::kNone;
  Scaler feature_scaler, target_scaler;  // fit by prepare_forecast_training

  // {"features": [...], "targets": [...], "window": W, ...}. to_json needs fitted scalers.
  nlohmann::json to_json() const;
  // The inverse; nothing is trusted: throws FormatError ("nnkit.preprocess: ...") on a
  // missing or mistyped field, a window, horizon or stride below 1, no feature or target,
  // a name listed twice, or scalers whose column counts disagree with the names.
  static ForecastPreprocess from_json(const nlohmann::json& json);
};

// The table's columns that every feature and target name: throws ValueError naming the file,
// the unknown name and the columns there are.
void check_forecast_columns(const CsvTable& table, const ForecastPreprocess& preprocess);

struct ForecastTrainingData {
  Tensor x_train, y_train;  // [N, W, F] scaled, [N, T] scaled (transformed) targets
  Tensor x_val, y_val;      // the same for the validation samples; empty without a split
  ChronologicalSplit split;
  Windows validation;  // the validation samples in original units (y: levels; last values)
  // The time column's cell of each validation sample's target row; empty without a time column.
  std::vector<std::string> validation_times;
};

// Applies the missing policy to a copy of the table's feature and target columns, windows
// them, splits them at the last val_fraction of the rows, and, with fit_scalers, fits
// `preprocess`'s scalers (whose kinds are set) on the training part; without, it uses them as
// they are (training continued from a model file). The errors of apply_missing (file, line,
// column), check_forecast_columns, split_chronological and make_split_windows (too few rows
// for window + horizon, saying how many there are).
ForecastTrainingData prepare_forecast_training(const CsvTable& table,
                                               ForecastPreprocess& preprocess, double val_fraction,
                                               bool fit_scalers = true);

struct ForecastInputs {
  Tensor x;                          // [N, W, F] scaled: one window ending at every row t ≥ W−1
  Tensor last_targets;               // [N, T] the targets at t, original units
  std::vector<int64_t> end_rows;     // t, rows of the table after the missing policy
  std::vector<int64_t> target_rows;  // t + horizon: the row each forecast is for (may be past
                                     // the last row: a forecast of the future)
  std::vector<int64_t> kept_rows;    // the table's row of each row after the policy (drop removes)
  Tensor actual;  // [N, T] the targets at target_rows, original units; NaN past the last row
};

// The windows predict runs on new data, read the way `preprocess` says. Throws as above, and
// ValueError when the table has fewer than `window` rows.
ForecastInputs prepare_forecast_inputs(const CsvTable& table, const ForecastPreprocess& preprocess);

// The network's outputs [N, T] back to forecasts in original units: the target scaler undone,
// then the target transform (last_targets [N, T] in original units).
Tensor forecast_levels(const ForecastPreprocess& preprocess, const Tensor& outputs,
                       const Tensor& last_targets);

struct ForecastErrors {
  double rmse = 0.0, mae = 0.0;
  double mape = 0.0;  // percent, over the samples whose actual value is not 0
  int64_t count = 0;  // samples with a known actual value
};
// Per target column: forecasts against actual values, both [N, T] in original units, over the
// samples whose actual value is known (not NaN). ShapeError when the shapes differ.
std::vector<ForecastErrors> forecast_errors(const Tensor& forecasts, const Tensor& actual);

}  // namespace nnkit
