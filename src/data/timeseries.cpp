#include "nnkit/data/timeseries.h"

#include <cmath>
#include <cstring>
#include <unordered_set>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {

void check_series_rank(const Tensor& series) {
  if (series.rank() != 2) {
    throw ShapeError(fmt::format("time series: expected a [rows, columns] tensor, got {}",
                                 shape_to_string(series.shape())));
  }
}

// `role` is "feature" or "target", for the messages.
void check_columns(const std::vector<int64_t>& columns, int64_t count, const char* role) {
  std::unordered_set<int64_t> seen;
  for (int64_t c : columns) {
    if (c < 0 || c >= count) {
      throw ValueError(
          fmt::format("time series: {} column {} is out of range: the series has {} "
                      "columns (0-based indices 0 to {})",
                      role, c, count, count - 1));
    }
    if (!seen.insert(c).second) {
      throw ValueError(fmt::format("time series: {} column {} is listed twice", role, c));
    }
  }
}

// Counts of rows are at most kMaxSteps, so that sums of a few of them and a row index never
// overflow int64.
constexpr int64_t kMaxSteps = int64_t{1} << 40;

void check_steps(const char* what, int64_t value) {
  if (value < 1) throw ValueError(fmt::format("time series: {} must be >= 1, got {}", what, value));
  if (value > kMaxSteps) {
    throw ValueError(
        fmt::format("time series: {} {} is too large (at most {})", what, value, kMaxSteps));
  }
}

// The checks every window function shares; targets may be empty only when `need_targets` is
// false (prediction).
void check_options(const Tensor& series, const WindowOptions& options, bool need_targets) {
  check_series_rank(series);
  check_steps("window", options.window);
  check_steps("horizon", options.horizon);
  check_steps("stride", options.stride);
  if (options.feature_columns.empty()) {
    throw ValueError("time series: no feature column given");
  }
  if (need_targets && options.target_columns.empty()) {
    throw ValueError("time series: no target column given");
  }
  const int64_t columns = series.dim(1);
  check_columns(options.feature_columns, columns, "feature");
  check_columns(options.target_columns, columns, "target");
}

// NaN and infinity would poison the scalers' statistics and every window holding them; the
// reader's --missing policy is where they are handled, so here they are an error.
void check_finite(const Tensor& series, const WindowOptions& options) {
  const int64_t rows = series.dim(0);
  const int64_t columns = series.dim(1);
  std::vector<char> used(static_cast<std::size_t>(columns), 0);
  for (int64_t c : options.feature_columns) used[static_cast<std::size_t>(c)] = 1;
  for (int64_t c : options.target_columns) used[static_cast<std::size_t>(c)] = 1;
  const float* data = series.data();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < columns; ++c) {
      const float v = data[r * columns + c];
      if (used[static_cast<std::size_t>(c)] && !std::isfinite(v)) {
        throw ValueError(fmt::format(
            "time series: row {}, column {} is {} (0-based indices); missing values must be "
            "filled or dropped before windowing",
            r, c, std::isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf")));
      }
    }
  }
}

// Copies the windows ending at `ends` into x [N, W, F] and the target columns at `ends` into
// last [N, T].
void fill_windows(const Tensor& series, const WindowOptions& options,
                  const std::vector<int64_t>& ends, Tensor& x, Tensor& last) {
  const int64_t columns = series.dim(1);
  const int64_t window = options.window;
  const auto features = static_cast<int64_t>(options.feature_columns.size());
  const auto targets = static_cast<int64_t>(options.target_columns.size());
  const auto samples = static_cast<int64_t>(ends.size());
  x = Tensor::uninitialized({samples, window, features});
  last = Tensor::uninitialized({samples, targets});
  const float* data = series.data();
  float* out = x.data();
  for (int64_t n = 0; n < samples; ++n) {
    const int64_t t = ends[static_cast<std::size_t>(n)];
    for (int64_t r = t - window + 1; r <= t; ++r) {
      const float* row = data + r * columns;
      for (int64_t f = 0; f < features; ++f) {
        *out++ = row[options.feature_columns[static_cast<std::size_t>(f)]];
      }
    }
    for (int64_t j = 0; j < targets; ++j) {
      last[n * targets + j] =
          data[t * columns + options.target_columns[static_cast<std::size_t>(j)]];
    }
  }
}

std::string needs_rows_message(const std::string& what, int64_t rows,
                               const WindowOptions& options) {
  return fmt::format("time series: {} has {} rows; window {} + horizon {} needs at least {}", what,
                     rows, options.window, options.horizon, options.window + options.horizon);
}

}  // namespace

Windows make_windows(const Tensor& series, const WindowOptions& options) {
  check_series_rank(series);
  return make_windows(series, options, 0, series.dim(0));
}

Windows make_windows(const Tensor& series, const WindowOptions& options, int64_t target_begin,
                     int64_t target_end) {
  check_options(series, options, /*need_targets=*/true);
  const int64_t rows = series.dim(0);
  if (rows < options.window + options.horizon) {
    throw ValueError(needs_rows_message("the series", rows, options));
  }
  if (!(0 <= target_begin && target_begin <= target_end && target_end <= rows)) {
    throw ValueError(
        fmt::format("time series: target rows [{}, {}) are not within the series' rows [0, {})",
                    target_begin, target_end, rows));
  }
  check_finite(series, options);

  // The grid t = W−1 + k·stride, keeping the samples whose target t + H is in range.
  std::vector<int64_t> ends;
  for (int64_t t = options.window - 1; t + options.horizon < target_end; t += options.stride) {
    if (t + options.horizon >= target_begin) ends.push_back(t);
  }
  Windows w;
  fill_windows(series, options, ends, w.x, w.last_targets);
  const auto targets = static_cast<int64_t>(options.target_columns.size());
  const auto samples = static_cast<int64_t>(ends.size());
  w.y = Tensor::uninitialized({samples, targets});
  w.end_rows = ends;
  w.target_rows.reserve(ends.size());
  const int64_t columns = series.dim(1);
  for (int64_t n = 0; n < samples; ++n) {
    const int64_t target_row = ends[static_cast<std::size_t>(n)] + options.horizon;
    w.target_rows.push_back(target_row);
    for (int64_t j = 0; j < targets; ++j) {
      w.y[n * targets + j] =
          series[target_row * columns + options.target_columns[static_cast<std::size_t>(j)]];
    }
  }
  return w;
}

PredictionWindows make_prediction_windows(const Tensor& series, const WindowOptions& options) {
  check_options(series, options, /*need_targets=*/false);
  const int64_t rows = series.dim(0);
  if (rows < options.window) {
    throw ValueError(fmt::format("time series: the series has {} rows; window {} needs at least {}",
                                 rows, options.window, options.window));
  }
  check_finite(series, options);
  std::vector<int64_t> ends;
  ends.reserve(static_cast<std::size_t>(rows - options.window + 1));
  for (int64_t t = options.window - 1; t < rows; ++t) ends.push_back(t);
  PredictionWindows w;
  fill_windows(series, options, ends, w.x, w.last_targets);
  w.target_rows.reserve(ends.size());
  for (int64_t t : ends) w.target_rows.push_back(t + options.horizon);
  w.end_rows = std::move(ends);
  return w;
}

ChronologicalSplit split_chronological(int64_t rows, double val_fraction) {
  if (rows < 0) throw ValueError(fmt::format("time series: rows must be >= 0, got {}", rows));
  if (!(val_fraction >= 0.0 && val_fraction < 1.0)) {
    throw ValueError(fmt::format(
        "time series: validation fraction must be in [0, 1) (the last part of the rows), got {}",
        val_fraction));
  }
  ChronologicalSplit split{.n_train = rows, .rows = rows};
  if (val_fraction == 0.0) return split;
  const auto validation =
      static_cast<int64_t>(std::floor(static_cast<double>(rows) * val_fraction + 1e-9));
  if (validation <= 0) {
    throw ValueError(
        fmt::format("time series: validation fraction {} of {} rows leaves no validation row",
                    val_fraction, rows));
  }
  if (validation >= rows) {
    throw ValueError(
        fmt::format("time series: validation fraction {} of {} rows leaves no training row",
                    val_fraction, rows));
  }
  split.n_train = rows - validation;
  return split;
}

WindowSplit make_split_windows(const Tensor& series, const WindowOptions& options,
                               const ChronologicalSplit& split) {
  check_series_rank(series);
  if (split.rows != series.dim(0) || split.n_train < 0 || split.n_train > split.rows) {
    throw ValueError(fmt::format(
        "time series: the split (train [0, {}) of {} rows) does not fit the series' {} rows",
        split.n_train, split.rows, series.dim(0)));
  }
  WindowSplit out{.split = split, .train = {}, .validation = {}};
  out.train = make_windows(series, options, 0, split.n_train);
  if (out.train.samples() == 0) {
    throw ValueError(
        needs_rows_message(fmt::format("the training part (rows 0 to {})", split.n_train - 1),
                           split.n_train, options));
  }
  out.validation = make_windows(series, options, split.n_train, split.rows);
  if (split.n_validation() > 0 && out.validation.samples() == 0) {
    throw ValueError(fmt::format(
        "time series: the validation part (rows {} to {}) holds no window's target with stride "
        "{}; lower the stride or enlarge the validation part",
        split.n_train, split.rows - 1, options.stride));
  }
  return out;
}

Tensor select_columns(const Tensor& series, const std::vector<int64_t>& columns) {
  check_series_rank(series);
  const int64_t rows = series.dim(0);
  const int64_t count = series.dim(1);
  for (int64_t c : columns) {
    if (c < 0 || c >= count) {
      throw ValueError(fmt::format(
          "time series: column {} is out of range: the series has {} columns", c, count));
    }
  }
  const auto k = static_cast<int64_t>(columns.size());
  Tensor out = Tensor::uninitialized({rows, k});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < k; ++j) {
      out[r * k + j] = series[r * count + columns[static_cast<std::size_t>(j)]];
    }
  }
  return out;
}

TargetTransform parse_target_transform(const std::string& name) {
  if (name == "none") return TargetTransform::kNone;
  if (name == "delta") return TargetTransform::kDelta;
  throw ValueError(fmt::format("unknown target transform \"{}\"; expected none or delta", name));
}

std::string target_transform_name(TargetTransform transform) {
  return transform == TargetTransform::kDelta ? "delta" : "none";
}

namespace {

void check_same_shape(const char* what, const Tensor& a, const Tensor& last) {
  if (a.rank() != 2 || a.shape() != last.shape()) {
    throw ShapeError(fmt::format(
        "{}: expected values and last observed values of the same shape [N, T], got {} and {}",
        what, shape_to_string(a.shape()), shape_to_string(last.shape())));
  }
}

}  // namespace

Tensor apply_target_transform(TargetTransform transform, const Tensor& y,
                              const Tensor& last_targets) {
  check_same_shape("apply_target_transform", y, last_targets);
  Tensor out = y;
  if (transform == TargetTransform::kDelta) {
    for (int64_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<float>(static_cast<double>(y[i]) - static_cast<double>(last_targets[i]));
    }
  }
  return out;
}

Tensor undo_target_transform(TargetTransform transform, const Tensor& predictions,
                             const Tensor& last_targets) {
  check_same_shape("undo_target_transform", predictions, last_targets);
  Tensor out = predictions;
  if (transform == TargetTransform::kDelta) {
    for (int64_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<float>(static_cast<double>(predictions[i]) +
                                  static_cast<double>(last_targets[i]));
    }
  }
  return out;
}

}  // namespace nnkit
