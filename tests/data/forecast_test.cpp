// From a CSV table to network inputs and back: the pipeline of data/forecast.h on small tables
// worked out by hand.
#include "nnkit/data/forecast.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "nnkit/error.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;

// Ten rows: a = r, b = 10·r + r², c = 100 − r; a time column.
CsvTable ten_rows() {
  std::string text = "t,a,b,c\n";
  for (int r = 0; r < 10; ++r) {
    text += "d" + std::to_string(r) + "," + std::to_string(r) + "," +
            std::to_string(10 * r + r * r) + "," + std::to_string(100 - r) + "\n";
  }
  return parse_csv(text, "ten.csv");
}

float b_at(int r) { return static_cast<float>(10 * r + r * r); }

ForecastPreprocess plain(std::vector<std::string> features, std::vector<std::string> targets) {
  ForecastPreprocess p;
  p.features = std::move(features);
  p.targets = std::move(targets);
  p.window = 2;
  p.horizon = 1;
  p.feature_scaler = Scaler(ScalerKind::kNone);
  p.target_scaler = Scaler(ScalerKind::kNone);
  return p;
}

TEST(Forecast, TrainingSamplesAreSplitByTheTargetRow) {
  // 10 rows at 0.2: rows 8 and 9 validate. Windows of 2 end at t = 1..8; the targets at t + 1:
  // rows 2..7 train (6 samples), rows 8 and 9 validate (2).
  ForecastPreprocess p = plain({"c", "a"}, {"b"});
  const ForecastTrainingData d = prepare_forecast_training(ten_rows(), p, 0.2);
  EXPECT_EQ(d.split.n_train, 8);
  ASSERT_EQ(d.x_train.shape(), (Shape{6, 2, 2}));
  ASSERT_EQ(d.y_train.shape(), (Shape{6, 1}));
  // Sample 0: rows 0 and 1 of (c, a), target b at row 2.
  EXPECT_EQ(d.x_train.to_vector(), (std::vector<float>{100, 0, 99, 1, 99, 1, 98, 2, 98, 2, 97, 3,
                                                       97,  3, 96, 4, 96, 4, 95, 5, 95, 5, 94, 6}));
  for (int n = 0; n < 6; ++n) EXPECT_EQ(d.y_train[n], b_at(n + 2));
  ASSERT_EQ(d.x_val.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(d.y_val.to_vector(), (std::vector<float>{b_at(8), b_at(9)}));
  EXPECT_EQ(d.validation.last_targets.to_vector(), (std::vector<float>{b_at(7), b_at(8)}));
}

TEST(Forecast, ScalersFitOnTheTrainingPartAndDeltasAreUndone) {
  ForecastPreprocess p = plain({"a"}, {"b"});
  p.target_transform = TargetTransform::kDelta;
  p.feature_scaler = Scaler(ScalerKind::kStandard);
  p.target_scaler = Scaler(ScalerKind::kStandard);
  const ForecastTrainingData d = prepare_forecast_training(ten_rows(), p, 0.2);
  // a over the training rows 0..7: mean 3.5; population std √5.25.
  EXPECT_DOUBLE_EQ(p.feature_scaler.offset()[0], 3.5);
  EXPECT_NEAR(p.feature_scaler.scale()[0], std::sqrt(5.25), 1e-12);
  // Deltas b(t+1) − b(t) = 11 + 2t for t = 1..6: 13, 15, ..., 23; mean 18, std √11.6667.
  EXPECT_NEAR(p.target_scaler.offset()[0], 18.0, 1e-9);
  EXPECT_NEAR(p.target_scaler.scale()[0], std::sqrt(35.0 / 3.0), 1e-9);
  // A network that outputs exactly the scaled targets forecasts exactly the levels.
  const Tensor levels = forecast_levels(p, d.y_val, d.validation.last_targets);
  EXPECT_NEAR(levels[0], b_at(8), 1e-4);
  EXPECT_NEAR(levels[1], b_at(9), 1e-4);
}

TEST(Forecast, PredictionInputsRunToTheLastRowAndMapDroppedRows) {
  CsvTable table = parse_csv("a,b\n1,10\n2,\n3,30\n4,40\n5,50\n", "gap.csv");
  ForecastPreprocess p = plain({"a", "b"}, {"b"});
  p.missing = MissingPolicy::kDrop;
  prepare_forecast_training(table, p, 0.0);  // fits the (identity) scalers
  const ForecastInputs in = prepare_forecast_inputs(table, p);
  // Row 1 dropped: rows 0, 2, 3, 4 remain; windows of 2 end at each from the second.
  EXPECT_EQ(in.kept_rows, (std::vector<int64_t>{0, 2, 3, 4}));
  EXPECT_EQ(in.end_rows, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(in.target_rows, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(in.last_targets.to_vector(), (std::vector<float>{30, 40, 50}));
  ASSERT_EQ(in.actual.size(), 3);
  EXPECT_EQ(in.actual[0], 40);
  EXPECT_EQ(in.actual[1], 50);
  EXPECT_TRUE(std::isnan(in.actual[2])) << "the last forecast is of a row not yet in the file";
}

TEST(Forecast, ErrorsNameTheFile) {
  ForecastPreprocess p = plain({"a"}, {"pulse"});
  expect_throw_containing<ValueError>([&] { prepare_forecast_training(ten_rows(), p, 0.0); },
                                      "ten.csv: no column \"pulse\"");
  p = plain({"a"}, {"b"});
  p.window = 10;
  expect_throw_containing<ValueError>([&] { prepare_forecast_training(ten_rows(), p, 0.0); },
                                      "the series has 10 rows; window 10 + horizon 1 needs at "
                                      "least 11");
  CsvTable gap = parse_csv("a,b\n1,2\n,3\n", "gap.csv");
  expect_throw_containing<FormatError>([&] { prepare_forecast_inputs(gap, plain({"a"}, {"b"})); },
                                       "line 3");
}

TEST(Forecast, PreprocessRoundTripsThroughJsonAndRejectsBadJson) {
  ForecastPreprocess p = plain({"a", "c"}, {"b"});
  p.time_column = "t";
  p.feature_scaler = Scaler(ScalerKind::kMinMax);
  p.target_scaler = Scaler(ScalerKind::kStandard);
  p.target_transform = TargetTransform::kDelta;
  p.missing = MissingPolicy::kInterpolate;
  prepare_forecast_training(ten_rows(), p, 0.2);
  const ForecastPreprocess q =
      ForecastPreprocess::from_json(nlohmann::json::parse(p.to_json().dump()));
  EXPECT_EQ(q.to_json(), p.to_json());
  EXPECT_EQ(q.time_column, "t");
  EXPECT_EQ(q.missing, MissingPolicy::kInterpolate);
  EXPECT_EQ(q.target_transform, TargetTransform::kDelta);
  EXPECT_EQ(q.feature_scaler.offset(), p.feature_scaler.offset());

  const nlohmann::json good = p.to_json();
  auto broken = [&](const char* field, nlohmann::json value) {
    nlohmann::json j = good;
    if (value.is_null()) {
      j.erase(field);
    } else {
      j[field] = value;
    }
    return j;
  };
  struct Case {
    nlohmann::json json;
    const char* message;
  };
  for (const Case& c :
       {Case{broken("features", nullptr), "\"features\""},
        Case{broken("features", nlohmann::json::array()), "\"features\""},
        Case{broken("targets", {"b", "b"}), "twice"}, Case{broken("window", 0), "\"window\""},
        Case{broken("horizon", "1"), "\"horizon\""}, Case{broken("missing", "guess"), "guess"},
        Case{broken("target_transform", 3), "\"target_transform\""},
        Case{broken("target_scaler", nullptr), "\"target_scaler\""},
        Case{broken("features", {"a"}), "the scalers have 2 and 1 columns"},
        Case{nlohmann::json::array(), "expected a JSON object"}}) {
    expect_throw_containing<FormatError>([&] { ForecastPreprocess::from_json(c.json); }, c.message);
  }
}

TEST(Forecast, ErrorsPerTargetSkipUnknownValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Target 0: errors 1, −3 (and one unknown): rmse √5, mae 2, mape (1/2 + 3/6)/2 = 50%.
  // Target 1: errors 0, 0 against an actual 0, which MAPE leaves out.
  const Tensor forecasts({3, 2}, {3, 5, 3, 0, 7, 1});
  const Tensor actual({3, 2}, {2, 5, 6, 0, nan, nan});
  const std::vector<ForecastErrors> e = forecast_errors(forecasts, actual);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].count, 2);
  EXPECT_DOUBLE_EQ(e[0].rmse, std::sqrt(5.0));
  EXPECT_DOUBLE_EQ(e[0].mae, 2.0);
  EXPECT_DOUBLE_EQ(e[0].mape, 50.0);
  EXPECT_EQ(e[1].rmse, 0.0);
  EXPECT_EQ(e[1].mape, 0.0);
  EXPECT_THROW(forecast_errors(forecasts, Tensor({2, 2})), ShapeError);
}

}  // namespace
}  // namespace nnkit
