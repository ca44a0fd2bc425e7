#include "nnkit/data/timeseries.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "nnkit/data/scaler.h"
#include "nnkit/error.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;

// rows × columns, value 10·row + column: every cell says where it came from.
Tensor coded_series(int64_t rows, int64_t columns) {
  Tensor s({rows, columns});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < columns; ++c) s[r * columns + c] = static_cast<float>(10 * r + c);
  }
  return s;
}

// One column holding `values`.
Tensor column_series(const std::vector<float>& values) {
  return Tensor({static_cast<int64_t>(values.size()), 1}, values);
}

void expect_tensor(const Tensor& got, const Shape& shape, const std::vector<float>& want) {
  ASSERT_EQ(got.shape(), shape);
  EXPECT_EQ(got.to_vector(), want);
}

// 8 rows, W = 3, H = 2, features {0, 2}, target {1} (not a feature).
WindowOptions worked_options(int64_t stride) {
  return {.window = 3,
          .horizon = 2,
          .stride = stride,
          .feature_columns = {0, 2},
          .target_columns = {1}};
}

TEST(TimeSeriesWindows, HandWorkedExampleStrideOne) {
  // Windows end at t = 2..5 (target t + 2 ≤ 7): N = 4.
  Windows w = make_windows(coded_series(8, 3), worked_options(1));
  EXPECT_EQ(w.samples(), 4);
  EXPECT_EQ(w.end_rows, (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(w.target_rows, (std::vector<int64_t>{4, 5, 6, 7}));
  expect_tensor(w.x, {4, 3, 2}, {0,  2,  10, 12, 20, 22,    // rows 0, 1, 2
                                 10, 12, 20, 22, 30, 32,    // rows 1, 2, 3
                                 20, 22, 30, 32, 40, 42,    // rows 2, 3, 4
                                 30, 32, 40, 42, 50, 52});  // rows 3, 4, 5
  expect_tensor(w.y, {4, 1}, {41, 51, 61, 71});
  expect_tensor(w.last_targets, {4, 1}, {21, 31, 41, 51});
}

TEST(TimeSeriesWindows, HandWorkedExampleStrideTwo) {
  // t = 2, 4; t = 6 would need row 8.
  Windows w = make_windows(coded_series(8, 3), worked_options(2));
  EXPECT_EQ(w.end_rows, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(w.target_rows, (std::vector<int64_t>{4, 6}));
  expect_tensor(w.x, {2, 3, 2}, {0, 2, 10, 12, 20, 22, 20, 22, 30, 32, 40, 42});
  expect_tensor(w.y, {2, 1}, {41, 61});
  expect_tensor(w.last_targets, {2, 1}, {21, 41});
}

TEST(TimeSeriesWindows, CountIsFloorOfSpareRowsOverStridePlusOne) {
  // N = floor((8 − 3 − 2) / stride) + 1: the same as Keras's timeseries_dataset_from_array.
  EXPECT_EQ(make_windows(coded_series(8, 3), worked_options(3)).end_rows,
            (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(make_windows(coded_series(8, 3), worked_options(4)).end_rows,
            (std::vector<int64_t>{2}));
  EXPECT_EQ(make_windows(coded_series(8, 3), worked_options(100)).end_rows,
            (std::vector<int64_t>{2}));
}

TEST(TimeSeriesWindows, TargetAmongFeaturesInTheGivenOrder) {
  // Targets {1, 0}: y's columns in that order, both also features.
  WindowOptions options{
      .window = 2, .horizon = 1, .stride = 1, .feature_columns = {1, 0}, .target_columns = {1, 0}};
  Windows w = make_windows(coded_series(4, 2), options);
  EXPECT_EQ(w.end_rows, (std::vector<int64_t>{1, 2}));
  expect_tensor(w.x, {2, 2, 2}, {1, 0, 11, 10, 11, 10, 21, 20});
  expect_tensor(w.y, {2, 2}, {21, 20, 31, 30});
  expect_tensor(w.last_targets, {2, 2}, {11, 10, 21, 20});
}

TEST(TimeSeriesWindows, WindowOfOneAndExactlyEnoughRows) {
  Windows w = make_windows(coded_series(5, 3), worked_options(1));  // 5 = W + H
  EXPECT_EQ(w.end_rows, (std::vector<int64_t>{2}));
  expect_tensor(w.y, {1, 1}, {41});

  WindowOptions one{.feature_columns = {0}, .target_columns = {0}};  // W = 1, H = 1
  Windows v = make_windows(coded_series(3, 1), one);
  expect_tensor(v.x, {2, 1, 1}, {0, 10});
  expect_tensor(v.y, {2, 1}, {10, 20});
}

TEST(TimeSeriesWindows, TooFewRowsSaysHowManyThereAreAndAreNeeded) {
  expect_throw_containing<ValueError>([] { make_windows(coded_series(4, 3), worked_options(1)); },
                                      "the series has 4 rows; window 3 + horizon 2 needs at "
                                      "least 5");
  expect_throw_containing<ValueError>([] { make_windows(coded_series(0, 3), worked_options(1)); },
                                      "the series has 0 rows");
}

TEST(TimeSeriesWindows, RejectsNaNAndInfinityNamingRowAndColumn) {
  Tensor s = coded_series(8, 3);
  s[4 * 3 + 2] = std::numeric_limits<float>::quiet_NaN();
  expect_throw_containing<ValueError>([&] { make_windows(s, worked_options(1)); },
                                      "row 4, column 2 is NaN");
  expect_throw_containing<ValueError>([&] { make_prediction_windows(s, worked_options(1)); },
                                      "row 4, column 2 is NaN");
  s[4 * 3 + 2] = 0;
  s[7 * 3 + 1] = -std::numeric_limits<float>::infinity();  // a target cell
  expect_throw_containing<ValueError>([&] { make_windows(s, worked_options(1)); },
                                      "row 7, column 1 is -inf");
}

TEST(TimeSeriesWindows, NaNInAColumnNotUsedIsAccepted) {
  Tensor s = coded_series(8, 4);
  s[3 * 4 + 3] = std::numeric_limits<float>::quiet_NaN();  // column 3: neither feature nor target
  WindowOptions options = worked_options(1);
  Windows w = make_windows(s, options);
  EXPECT_EQ(w.samples(), 4);
  EXPECT_EQ(w.x[0], 0.0f);
  EXPECT_EQ(w.x[1], 2.0f);
}

TEST(TimeSeriesWindows, RejectsBadOptions) {
  const Tensor s = coded_series(8, 3);
  auto with = [](auto edit) {
    WindowOptions o = worked_options(1);
    edit(o);
    return o;
  };
  expect_throw_containing<ValueError>(
      [&] { make_windows(s, with([](WindowOptions& o) { o.window = 0; })); },
      "window must be >= 1, got 0");
  expect_throw_containing<ValueError>(
      [&] { make_windows(s, with([](WindowOptions& o) { o.horizon = 0; })); },
      "horizon must be >= 1, got 0");
  expect_throw_containing<ValueError>(
      [&] { make_windows(s, with([](WindowOptions& o) { o.stride = -2; })); },
      "stride must be >= 1, got -2");
  expect_throw_containing<ValueError>(
      [&] {
        make_windows(
            s, with([](WindowOptions& o) { o.horizon = std::numeric_limits<int64_t>::max(); }));
      },
      "horizon 9223372036854775807 is too large");
  expect_throw_containing<ValueError>(
      [&] { make_windows(s, with([](WindowOptions& o) { o.feature_columns = {}; })); },
      "no feature column");
  expect_throw_containing<ValueError>(
      [&] { make_windows(s, with([](WindowOptions& o) { o.target_columns = {}; })); },
      "no target column");
  expect_throw_containing<ValueError>(
      [&] {
        make_windows(s, with([](WindowOptions& o) { o.feature_columns = {0, 3}; }));
      },
      "feature column 3 is out of range: the series has 3 columns");
  expect_throw_containing<ValueError>(
      [&] { make_windows(s, with([](WindowOptions& o) { o.target_columns = {-1}; })); },
      "target column -1 is out of range");
  expect_throw_containing<ValueError>(
      [&] {
        make_windows(s, with([](WindowOptions& o) { o.feature_columns = {2, 0, 2}; }));
      },
      "feature column 2 is listed twice");
  expect_throw_containing<ShapeError>([&] { make_windows(Tensor({8}), worked_options(1)); },
                                      "expected a [rows, columns] tensor");
  expect_throw_containing<ValueError>([&] { make_windows(s, worked_options(1), 5, 4); },
                                      "target rows [5, 4) are not within the series' rows [0, 8)");
  expect_throw_containing<ValueError>([&] { make_windows(s, worked_options(1), 0, 9); },
                                      "target rows [0, 9)");
}

TEST(TimeSeriesWindows, TargetRangeKeepsTheGlobalGrid) {
  // Stride 2 over 8 rows: t = 2, 4 (targets 4, 6). Targets in [5, 8): only t = 4, not t = 3 or 5.
  Windows w = make_windows(coded_series(8, 3), worked_options(2), 5, 8);
  EXPECT_EQ(w.end_rows, (std::vector<int64_t>{4}));
  EXPECT_EQ(w.target_rows, (std::vector<int64_t>{6}));
  Windows none = make_windows(coded_series(8, 3), worked_options(2), 7, 8);
  EXPECT_EQ(none.samples(), 0);
  EXPECT_EQ(none.x.shape(), (Shape{0, 3, 2}));
  EXPECT_EQ(none.y.shape(), (Shape{0, 1}));
}

TEST(TimeSeriesPredictionWindows, EndAtEveryRowIncludingTheLast) {
  PredictionWindows w = make_prediction_windows(coded_series(8, 3), worked_options(5));
  EXPECT_EQ(w.end_rows, (std::vector<int64_t>{2, 3, 4, 5, 6, 7}));
  // Forecasts for rows 8 and 9 lie past the data.
  EXPECT_EQ(w.target_rows, (std::vector<int64_t>{4, 5, 6, 7, 8, 9}));
  ASSERT_EQ(w.x.shape(), (Shape{6, 3, 2}));
  EXPECT_EQ(std::vector<float>(w.x.begin() + 5 * 6, w.x.end()),
            (std::vector<float>{50, 52, 60, 62, 70, 72}));
  EXPECT_EQ(std::vector<float>(w.x.begin(), w.x.begin() + 6),
            (std::vector<float>{0, 2, 10, 12, 20, 22}));
  expect_tensor(w.last_targets, {6, 1}, {21, 31, 41, 51, 61, 71});
}

TEST(TimeSeriesPredictionWindows, TargetColumnsAreOptionalAndRowsMustCoverAWindow) {
  WindowOptions options = worked_options(1);
  options.target_columns.clear();
  PredictionWindows w = make_prediction_windows(coded_series(3, 3), options);  // exactly W
  EXPECT_EQ(w.end_rows, (std::vector<int64_t>{2}));
  EXPECT_EQ(w.last_targets.shape(), (Shape{1, 0}));
  expect_tensor(w.x, {1, 3, 2}, {0, 2, 10, 12, 20, 22});
  expect_throw_containing<ValueError>([&] { make_prediction_windows(coded_series(2, 3), options); },
                                      "the series has 2 rows; window 3 needs at least 3");
}

TEST(TimeSeriesSplit, LastFractionIsValidationRoundedDown) {
  ChronologicalSplit a = split_chronological(10, 0.2);
  EXPECT_EQ(a.n_train, 8);
  EXPECT_EQ(a.rows, 10);
  EXPECT_EQ(a.n_validation(), 2);
  EXPECT_EQ(split_chronological(10, 0.0).n_train, 10);
  EXPECT_EQ(split_chronological(10, 0.0).n_validation(), 0);
  EXPECT_EQ(split_chronological(0, 0.0).n_train, 0);
  EXPECT_EQ(split_chronological(10, 0.25).n_train, 8);  // floor(2.5) = 2 validation rows
  EXPECT_EQ(split_chronological(10, 0.29).n_train, 8);  // floor(2.9) = 2
  EXPECT_EQ(split_chronological(2, 0.5).n_train, 1);
  // 0.29 · 100 is 28.999999999999996 in double; the slack makes it 29.
  EXPECT_EQ(split_chronological(100, 0.29).n_validation(), 29);
  EXPECT_EQ(split_chronological(1000, 0.3).n_validation(), 300);
  EXPECT_EQ(split_chronological(100, 0.999).n_validation(), 99);
}

TEST(TimeSeriesSplit, RejectsFractionsOutsideZeroToOneAndEmptyParts) {
  for (double f : {1.0, 1.5, -0.1, std::numeric_limits<double>::quiet_NaN()}) {
    expect_throw_containing<ValueError>([&] { split_chronological(10, f); },
                                        "validation fraction must be in [0, 1)");
  }
  expect_throw_containing<ValueError>([] { split_chronological(3, 0.1); },
                                      "validation fraction 0.1 of 3 rows leaves no validation row");
  expect_throw_containing<ValueError>([] { split_chronological(1, 0.999999999999); },
                                      "leaves no training row");
  expect_throw_containing<ValueError>([] { split_chronological(-1, 0.2); },
                                      "rows must be >= 0, got -1");
}

TEST(TimeSeriesSplitWindows, ValidationTargetsAfterTheBoundaryMayLookBack) {
  // 10 rows, W = 3, H = 2, 0.2 → train rows [0, 8). Windows end at t = 2..7.
  const Tensor s = coded_series(10, 3);
  WindowSplit w = make_split_windows(s, worked_options(1), split_chronological(10, 0.2));
  EXPECT_EQ(w.split.n_train, 8);
  EXPECT_EQ(w.train.end_rows, (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(w.train.target_rows, (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_EQ(w.validation.end_rows, (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(w.validation.target_rows, (std::vector<int64_t>{8, 9}));
  // The first validation window is rows 4..6, all training rows.
  expect_tensor(w.validation.x, {2, 3, 2}, {40, 42, 50, 52, 60, 62, 50, 52, 60, 62, 70, 72});
  expect_tensor(w.validation.y, {2, 1}, {81, 91});
  expect_tensor(w.validation.last_targets, {2, 1}, {61, 71});
}

TEST(TimeSeriesSplitWindows, TrainingSamplesNeverTouchValidationRows) {
  // Every cell of a validation row is ≥ 1000; training x, y and last must hold none of them, for
  // many shapes of series, window, horizon, stride and fraction.
  for (int64_t rows : {5, 9, 17, 30}) {
    for (double f : {0.0, 0.2, 0.35, 0.5}) {
      ChronologicalSplit split;
      try {
        split = split_chronological(rows, f);
      } catch (const ValueError&) {
        continue;
      }
      Tensor s = coded_series(rows, 2);
      for (int64_t r = split.n_train; r < rows; ++r) {
        s[r * 2] = static_cast<float>(1000 + r);
        s[r * 2 + 1] = static_cast<float>(1000 + r);
      }
      for (int64_t window : {1, 2, 4}) {
        for (int64_t horizon : {1, 3}) {
          for (int64_t stride : {1, 2, 3}) {
            WindowOptions o{.window = window,
                            .horizon = horizon,
                            .stride = stride,
                            .feature_columns = {0, 1},
                            .target_columns = {1}};
            WindowSplit w;
            try {
              w = make_split_windows(s, o, split);
            } catch (const ValueError&) {
              continue;  // too few training rows, or a stride past the validation part
            }
            ASSERT_GT(w.train.samples(), 0);
            for (float v : w.train.x) EXPECT_LT(v, 1000.0f);
            for (float v : w.train.y) EXPECT_LT(v, 1000.0f);
            for (float v : w.train.last_targets) EXPECT_LT(v, 1000.0f);
            for (int64_t t : w.train.target_rows) EXPECT_LT(t, split.n_train);
            for (int64_t t : w.validation.target_rows) EXPECT_GE(t, split.n_train);
            // Together they are exactly the whole series' samples.
            std::vector<int64_t> ends = w.train.end_rows;
            ends.insert(ends.end(), w.validation.end_rows.begin(), w.validation.end_rows.end());
            EXPECT_EQ(ends, make_windows(s, o).end_rows)
                << rows << " rows, f " << f << ", W " << window << ", H " << horizon << ", stride "
                << stride;
          }
        }
      }
    }
  }
}

TEST(TimeSeriesSplitWindows, ErrorsForShortTrainingPartAndSkippedValidation) {
  const Tensor s = coded_series(10, 3);
  // 0.6 → 6 validation rows, 4 training rows; W + H = 5.
  expect_throw_containing<ValueError>(
      [&] { make_split_windows(s, worked_options(1), split_chronological(10, 0.6)); },
      "the training part (rows 0 to 3) has 4 rows; window 3 + horizon 2 needs at least 5");
  // 0.1 → validation row 9; stride 2 gives targets 4, 6, 8 only.
  expect_throw_containing<ValueError>(
      [&] { make_split_windows(s, worked_options(2), split_chronological(10, 0.1)); },
      "the validation part (rows 9 to 9) holds no window's target with stride 2");
  expect_throw_containing<ValueError>(
      [&] { make_split_windows(s, worked_options(1), split_chronological(12, 0.2)); },
      "does not fit the series' 10 rows");
  // No validation part: every sample trains.
  WindowSplit all = make_split_windows(s, worked_options(1), split_chronological(10, 0.0));
  EXPECT_EQ(all.train.samples(), 6);
  EXPECT_EQ(all.validation.samples(), 0);
}

TEST(TimeSeriesColumns, SelectsColumnsInTheGivenOrder) {
  expect_tensor(select_columns(coded_series(3, 3), {2, 0}), {3, 2}, {2, 0, 12, 10, 22, 20});
  expect_throw_containing<ValueError>([] { select_columns(coded_series(3, 3), {3}); },
                                      "column 3 is out of range: the series has 3 columns");
}

TEST(TimeSeriesTargetTransform, ParsesNames) {
  EXPECT_EQ(parse_target_transform("none"), TargetTransform::kNone);
  EXPECT_EQ(parse_target_transform("delta"), TargetTransform::kDelta);
  EXPECT_EQ(target_transform_name(TargetTransform::kDelta), "delta");
  EXPECT_EQ(target_transform_name(TargetTransform::kNone), "none");
  expect_throw_containing<ValueError>([] { parse_target_transform("log"); },
                                      "unknown target transform \"log\"; expected none or delta");
}

TEST(TimeSeriesTargetTransform, DeltaIsTheChangeFromTheLastObservedValueAndUndoAddsItBack) {
  // Levels 10, 12, 15, 11, 20, 18; W = 2, H = 1: targets rows 2..5 from last rows 1..4.
  WindowOptions o{.window = 2, .horizon = 1, .feature_columns = {0}, .target_columns = {0}};
  Windows w = make_windows(column_series({10, 12, 15, 11, 20, 18}), o);
  expect_tensor(w.y, {4, 1}, {15, 11, 20, 18});
  expect_tensor(w.last_targets, {4, 1}, {12, 15, 11, 20});
  expect_tensor(apply_target_transform(TargetTransform::kDelta, w.y, w.last_targets), {4, 1},
                {3, -4, 9, -2});
  expect_tensor(apply_target_transform(TargetTransform::kNone, w.y, w.last_targets), {4, 1},
                {15, 11, 20, 18});
  // Predicted changes back to levels.
  const Tensor predicted({4, 1}, {2.5f, -4, 8, 0});
  expect_tensor(undo_target_transform(TargetTransform::kDelta, predicted, w.last_targets), {4, 1},
                {14.5f, 11, 19, 20});
  expect_tensor(undo_target_transform(TargetTransform::kNone, predicted, w.last_targets), {4, 1},
                {2.5f, -4, 8, 0});
  expect_throw_containing<ShapeError>(
      [&] {
        apply_target_transform(TargetTransform::kDelta, w.y, Tensor({4, 2}));
      },
      "same shape [N, T], got [4, 1] and [4, 2]");
  expect_throw_containing<ShapeError>(
      [&] { undo_target_transform(TargetTransform::kNone, Tensor({4}), Tensor({4})); },
      "got [4] and [4]");
}

TEST(TimeSeriesPipeline, ScaledDeltasOnTrainingSamplesComeBackAsLevels) {
  // Levels 10, 12, 15, 11, 20, 18 | 30, 25; W = 2, H = 1, 0.25 → train rows [0, 6).
  const Tensor s = column_series({10, 12, 15, 11, 20, 18, 30, 25});
  WindowOptions o{.window = 2, .horizon = 1, .feature_columns = {0}, .target_columns = {0}};
  WindowSplit w = make_split_windows(s, o, split_chronological(8, 0.25));
  ASSERT_EQ(w.split.n_train, 6);

  // Feature scaler on rows 0..5 only: mean 86/6; the 30 and 25 of validation are not in it.
  Scaler features(ScalerKind::kStandard);
  features.fit(select_columns(s, o.feature_columns), w.split.n_train);
  EXPECT_DOUBLE_EQ(features.offset()[0], 86.0 / 6.0);
  const Tensor x = features.transform(w.train.x);
  EXPECT_FLOAT_EQ(x[0], static_cast<float>((10.0 - 86.0 / 6.0) / features.scale()[0]));

  // Training deltas 3, −4, 9, −2: mean 1.5, population variance 101/4.
  const Tensor z = apply_target_transform(TargetTransform::kDelta, w.train.y, w.train.last_targets);
  Scaler targets(ScalerKind::kStandard);
  targets.fit(z, z.dim(0));
  EXPECT_DOUBLE_EQ(targets.offset()[0], 1.5);
  EXPECT_DOUBLE_EQ(targets.scale()[0], std::sqrt(101.0 / 4.0));

  // A network that predicted the validation deltas (12, −5) exactly, in scaled units, gives
  // back the levels 30 and 25.
  const Tensor val_z =
      apply_target_transform(TargetTransform::kDelta, w.validation.y, w.validation.last_targets);
  expect_tensor(val_z, {2, 1}, {12, -5});
  const Tensor prediction = targets.transform(val_z);
  const Tensor levels = undo_target_transform(
      TargetTransform::kDelta, targets.inverse_transform(prediction), w.validation.last_targets);
  ASSERT_EQ(levels.shape(), (Shape{2, 1}));
  EXPECT_NEAR(levels[0], 30.0f, 1e-5);
  EXPECT_NEAR(levels[1], 25.0f, 1e-5);
}

}  // namespace
}  // namespace nnkit
