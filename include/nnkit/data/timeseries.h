// Time series for forecasting: sliding windows, the chronological train/validation split and
// the target transform. Pure functions on a series held as a Tensor [rows, columns] float32,
// rows in time order (the CSV reader's output); nothing here reads or writes files.
//
// Windows. A sample is the W rows t−W+1..t of the feature columns (the window, ending at row
// t) and, as its target, the target columns at row t + H (H = horizon ≥ 1). The first window
// ends at t = W−1 and windows follow every `stride` rows: t = W−1 + k·stride. The target
// columns may or may not be among the feature columns. This is what Keras users know as
//   keras.utils.timeseries_dataset_from_array(features[:-H], targets[W-1+H:],
//                                             sequence_length=W, sequence_stride=stride)
// (sampling_rate 1), with the same samples in the same order.
//
// Chronological split. split_chronological(rows, f) keeps the last floor(rows·f) rows for
// validation, never shuffled: training rows [0, n_train), validation rows [n_train, rows). A
// sample belongs to the part that holds its target row t + H. So a training sample uses only
// training rows (its whole window and its target lie before n_train), and nothing the
// validation part holds leaks into training; a validation sample's window may reach back into
// training rows, as a deployed forecaster reads the latest readings whatever part they came
// from. Windows keep one grid (t = W−1 + k·stride over the whole series) across the split, so
// the training samples followed by the validation samples are exactly make_windows' samples.
//
// Scaling and the target transform, in this order (scaler.h for the scalers):
//   1. Window the raw series: x in original units, y = target at t + H and last = target at t,
//      both in original units.
//   2. Target transform in original units: z = y − last with `delta` (the change from the last
//      observed value), z = y with `none`.
//   3. Fit the feature scaler on the feature columns of the training rows [0, n_train)
//      (select_columns, then Scaler::fit(values, n_train)) and transform x (its last axis is
//      the features). Fit the target scaler on the training samples' z and transform z. The
//      network learns scaled z from scaled x.
//   4. A forecast undoes both: z = target_scaler.inverse_transform(prediction), then the level
//      = undo_target_transform(z, last) with last in original units.
// Deltas are taken before scaling so that `last` stays in original units, and they get their
// own scaler because changes are far smaller than levels: scaled with the level's scaler they
// would leave the network targets near zero.
//
// Errors: ValueError for bad arguments and for non-finite values (naming the 0-based row and
// column), ShapeError for a tensor of the wrong rank or shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nnkit/tensor.h"

namespace nnkit {

struct WindowOptions {
  int64_t window = 1;   // W ≥ 1 steps per sample
  int64_t horizon = 1;  // H ≥ 1: the target is H rows after the window's last row
  int64_t stride = 1;   // ≥ 1 rows between consecutive windows' last rows
  // 0-based column indices into the series, each in range and listed once; the features in
  // the order the network sees them, the targets in the order of y's columns.
  std::vector<int64_t> feature_columns;
  std::vector<int64_t> target_columns;
};

// Samples with known targets. N samples, W = window, F = feature columns, T = target columns.
struct Windows {
  Tensor x;             // [N, W, F]: x[n, s, f] = series[end_rows[n] − W + 1 + s, features[f]]
  Tensor y;             // [N, T]: y[n, j] = series[target_rows[n], targets[j]]
  Tensor last_targets;  // [N, T]: series[end_rows[n], targets[j]], the last observed values
  std::vector<int64_t> end_rows;     // t, the row of each window's last step
  std::vector<int64_t> target_rows;  // t + H, the row of each target
  int64_t samples() const { return static_cast<int64_t>(end_rows.size()); }
};

// Every sample of the series: N = floor((rows − W − H) / stride) + 1.
// series: [rows, columns], rank 2 (else ShapeError). Throws ValueError on bad options (window,
// horizon or stride < 1 or > 2^40, no feature or no target column, a column out of range or listed
// twice), on a NaN or infinity in a feature or target column ("row 4, column 2 is NaN"), and
// when rows < W + H ("the series has 4 rows; window 3 + horizon 2 needs at least 5").
Windows make_windows(const Tensor& series, const WindowOptions& options);

// The samples of make_windows(series, options) whose target row lies in [target_begin,
// target_end), in order; N may be 0 (x [0, W, F], y [0, T]). Same checks as above, and
// 0 ≤ target_begin ≤ target_end ≤ rows (else ValueError).
Windows make_windows(const Tensor& series, const WindowOptions& options, int64_t target_begin,
                     int64_t target_end);

// Windows for forecasting on new data, whose targets are not known yet: one window ending at
// every row t ≥ W − 1, the last rows included, whatever options.stride says.
// N = rows − W + 1. target_columns may be empty here (last_targets is then [N, 0]); give them
// when the target transform needs the last observed values.
struct PredictionWindows {
  Tensor x;                          // [N, W, F], as Windows::x
  Tensor last_targets;               // [N, T]: series[end_rows[n], targets[j]]
  std::vector<int64_t> end_rows;     // t = W − 1 + n
  std::vector<int64_t> target_rows;  // t + H, the row each forecast is for (may be ≥ rows)
  int64_t samples() const { return static_cast<int64_t>(end_rows.size()); }
};
// Throws as make_windows, with rows < W the too-short case ("the series has 2 rows; window 3
// needs at least 3").
PredictionWindows make_prediction_windows(const Tensor& series, const WindowOptions& options);

// Training rows [0, n_train) and validation rows [n_train, rows).
struct ChronologicalSplit {
  int64_t n_train = 0;
  int64_t rows = 0;
  int64_t n_validation() const { return rows - n_train; }
};

// The last floor(rows·val_fraction) rows are validation, as Sequential::fit's
// validation_split counts samples; a slack of 1e-9 absorbs binary fractions, so that 0.29 of
// 100 rows is 29 (0.29·100 is 28.999999999999996 in double). 10 rows at 0.2: train [0, 8),
// validation [8, 10); at 0.25: floor(2.5) = 2 validation rows. val_fraction 0: every row
// trains. Throws ValueError when rows < 0, val_fraction is not in [0, 1) (1.0 or more, NaN,
// negative), or a nonzero fraction leaves no validation row or no training row.
ChronologicalSplit split_chronological(int64_t rows, double val_fraction);

struct WindowSplit {
  ChronologicalSplit split;
  Windows train;       // target rows in [0, n_train): every row they touch is a training row
  Windows validation;  // target rows in [n_train, rows); empty when the split has none
};

// The samples of make_windows divided by the split, as the file comment says. Throws as
// make_windows (the series must have split.rows rows, else ValueError), and ValueError when
// the training part has no sample ("the training part (rows 0 to 3) has 4 rows; window 3
// + horizon 2 needs at least 5") or a nonempty validation part has none (a stride that jumps
// over it).
WindowSplit make_split_windows(const Tensor& series, const WindowOptions& options,
                               const ChronologicalSplit& split);

// The given columns of a [rows, columns] series, in that order: [rows, k]. For fitting the
// feature scaler on the feature columns. Throws ShapeError (rank) or ValueError (a column
// out of range).
Tensor select_columns(const Tensor& series, const std::vector<int64_t>& columns);

// What the network learns in place of the target's level.
enum class TargetTransform {
  kNone,   // the level y[t + H] itself
  kDelta,  // the change y[t + H] − y[t] from the last observed value
};

// "none" or "delta"; anything else is a ValueError.
TargetTransform parse_target_transform(const std::string& name);
std::string target_transform_name(TargetTransform transform);

// y, last_targets: [N, T], same shape (else ShapeError). kDelta: y − last_targets; kNone: a
// copy of y. Computed in double, rounded to float32.
Tensor apply_target_transform(TargetTransform transform, const Tensor& y,
                              const Tensor& last_targets);
// The inverse: predictions [N, T] of the transformed target back to levels. kDelta:
// predictions + last_targets; kNone: a copy of predictions. Same shape rule.
Tensor undo_target_transform(TargetTransform transform, const Tensor& predictions,
                             const Tensor& last_targets);

}  // namespace nnkit
