// The command-line tool on a CSV time series: train with --csv/--target/--window, predict to a
// forecast CSV, evaluate against the naive last-value forecast, and the errors of bad input,
// each exit status 2 with one line and no file written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/cli_run.h"
#include "nlohmann/json.hpp"
#include "nnkit/data/csv.h"
#include "nnkit/data/forecast.h"
#include "nnkit/data/npy.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/model_file.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;
namespace fs = std::filesystem;

constexpr int kRows = 60, kWindow = 5;

// Level of column b at row r: a daily-like rhythm the LSTM can follow.
double b_at(int r) { return 70.0 + 10.0 * std::sin(0.4 * r); }

class CsvCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream csv(path("vitals.csv"));
    csv << "date,a,b,c\n";
    for (int r = 0; r < kRows; ++r) {
      csv << "2026-01-" << r << "," << std::cos(0.4 * r) << "," << b_at(r) << "," << r % 7 << "\n";
    }
    csv.close();
    std::ofstream(path("spec.json")) << R"({
      "layers": [{"type": "LSTM", "units": 8}, {"type": "Dense", "units": 1}],
      "loss": "mse", "optimizer": {"type": "adam", "learning_rate": 0.02}, "seed": 3})";
  }
  std::string path(const std::string& name) const { return scratch_.file(name); }

  // train on vitals.csv; `extra` flags replace the defaults of the same name.
  CliRun train(std::vector<std::string> extra) const {
    std::vector<std::string> args = {
        "train",   "--spec", path("spec.json"),    "--csv", path("vitals.csv"),
        "--quiet", "--out",  path("m.safetensors")};
    const std::vector<std::pair<std::string, std::string>> defaults = {
        {"--target", "b"}, {"--window", "5"}, {"--epochs", "30"}};
    for (const auto& [flag, value] : defaults) {
      if (std::find(extra.begin(), extra.end(), flag) == extra.end()) {
        args.push_back(flag);
        args.push_back(value);
      }
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return run_nnkit(args);
  }

  // Exit status 2, exactly one line on stderr containing `needle`.
  static void expect_usage_error(const CliRun& r, const std::string& needle) {
    EXPECT_EQ(r.status, 2) << r.describe();
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.describe();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
  }

  testing::ScratchDir scratch_;
};

TEST_F(CsvCli, TrainKeepsThePreprocessingInTheModelFile) {
  CliRun r = train({"--val-split", "0.2"});
  ASSERT_EQ(r.status, 0) << r.describe();
  std::map<std::string, std::string> metadata;
  Sequential model = load_model(path("m.safetensors"), &metadata);
  EXPECT_EQ(model.input_shape(), (Shape{kWindow, 3})) << "[window, features] from the flags";
  ASSERT_TRUE(metadata.count("nnkit.preprocess"));
  const ForecastPreprocess p =
      ForecastPreprocess::from_json(nlohmann::json::parse(metadata.at("nnkit.preprocess")));
  EXPECT_EQ(p.features, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(p.targets, (std::vector<std::string>{"b"}));
  EXPECT_EQ(p.time_column, "date");
  EXPECT_EQ(p.window, kWindow);
  EXPECT_EQ(p.feature_scaler.kind(), ScalerKind::kStandard);
  // Fit on the training rows only: the first 48 of column b.
  double mean = 0.0;
  for (int i = 0; i < 48; ++i) mean += b_at(i);
  EXPECT_NEAR(p.feature_scaler.offset()[1], mean / 48, 1e-4);
}

TEST_F(CsvCli, PredictWritesOneForecastPerWindowWithTheTimeOfItsTarget) {
  ASSERT_EQ(train({}).status, 0);
  CliRun r = run_nnkit({"predict", "--model", path("m.safetensors"), "--csv", path("vitals.csv"),
                        "--out", path("forecast.csv")});
  ASSERT_EQ(r.status, 0) << r.describe();
  const CsvTable forecast = read_csv(path("forecast.csv"));
  EXPECT_EQ(forecast.time_name, "date");
  EXPECT_EQ(forecast.columns, (std::vector<std::string>{"b"}));
  // Windows end at rows 4..59; each forecasts the row after, the last one past the file.
  ASSERT_EQ(forecast.rows(), kRows - kWindow + 1);
  EXPECT_EQ(forecast.time.front(), "2026-01-5");
  EXPECT_EQ(forecast.time[forecast.rows() - 2], "2026-01-59");
  EXPECT_EQ(forecast.time.back(), "") << "the forecast of the future has no time yet";
  // Trained 30 epochs on a smooth rhythm: forecasts in original units, near the levels.
  double worst = 0.0;
  for (int n = 0; n + 1 < forecast.rows(); ++n) {
    worst = std::max(worst, std::fabs(forecast.values[n] - b_at(n + kWindow)));
  }
  EXPECT_LT(worst, 5.0) << "forecasts within half the rhythm's amplitude";
}

TEST_F(CsvCli, EvaluateSetsTheModelBesideTheNaiveForecast) {
  ASSERT_EQ(train({"--target-transform", "delta"}).status, 0);
  CliRun r = run_nnkit(
      {"evaluate", "--model", path("m.safetensors"), "--csv", path("vitals.csv"), "--json"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const auto j = nlohmann::json::parse(r.out).at("b");
  // The naive forecast of row t + 1 is row t: worked out here from the series itself.
  double squares = 0.0;
  for (int t = kWindow - 1; t + 1 < kRows; ++t) squares += std::pow(b_at(t + 1) - b_at(t), 2);
  const int forecasts = kRows - kWindow;
  EXPECT_EQ(j.at("forecasts").get<int>(), forecasts);
  EXPECT_NEAR(j.at("naive_rmse").get<double>(), std::sqrt(squares / forecasts), 1e-4);
  EXPECT_LT(j.at("rmse").get<double>(), j.at("naive_rmse").get<double>()) << r.out;

  r = run_nnkit({"evaluate", "--model", path("m.safetensors"), "--csv", path("vitals.csv")});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("b: rmse "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("naive last value: rmse "), std::string::npos) << r.out;
}

TEST_F(CsvCli, ContinuesTrainingWithTheFilesPreprocessing) {
  ASSERT_EQ(train({"--features", "a,c", "--scale", "minmax"}).status, 0);
  std::map<std::string, std::string> before, after;
  load_model(path("m.safetensors"), &before);
  // --window and --features are the model's; the scalers stay as first fit.
  CliRun r = run_nnkit({"train", "--model", path("m.safetensors"), "--csv", path("vitals.csv"),
                        "--epochs", "2", "--quiet", "--out", path("m2.safetensors")});
  ASSERT_EQ(r.status, 0) << r.describe();
  load_model(path("m2.safetensors"), &after);
  EXPECT_EQ(after.at("nnkit.preprocess"), before.at("nnkit.preprocess"));
  r = run_nnkit({"train", "--model", path("m.safetensors"), "--csv", path("vitals.csv"), "--window",
                 "7", "--quiet", "--out", path("m3.safetensors")});
  expect_usage_error(r, "--window: training continued from --model");
  EXPECT_FALSE(fs::exists(path("m3.safetensors")));
}

TEST_F(CsvCli, PredictsRowNumbersWithoutATimeColumnAndNpyOnRequest) {
  std::ofstream csv(path("plain.csv"));
  csv << "a,b\n";
  for (int r = 0; r < 20; ++r) csv << r % 3 << "," << b_at(r) << "\n";
  csv.close();
  CliRun r =
      run_nnkit({"train", "--spec", path("spec.json"), "--csv", path("plain.csv"), "--target", "b",
                 "--window", "4", "--horizon", "2", "--quiet", "--out", path("m.safetensors")});
  ASSERT_EQ(r.status, 0) << r.describe();
  r = run_nnkit({"predict", "--model", path("m.safetensors"), "--csv", path("plain.csv"), "--out",
                 path("forecast.csv")});
  ASSERT_EQ(r.status, 0) << r.describe();
  const CsvTable forecast = read_csv(path("forecast.csv"));
  // Windows end at rows 3..19 and forecast rows 5..21: "row" is numeric, so a column here.
  EXPECT_FALSE(forecast.time_name);
  ASSERT_EQ(forecast.columns, (std::vector<std::string>{"row", "b"}));
  ASSERT_EQ(forecast.rows(), 17);
  EXPECT_EQ(forecast.values[0], 5.0f);
  EXPECT_EQ(forecast.values[2 * 16], 21.0f);

  r = run_nnkit({"predict", "--model", path("m.safetensors"), "--csv", path("plain.csv"), "--out",
                 path("forecast.npy")});
  ASSERT_EQ(r.status, 0) << r.describe();
  const Tensor levels = read_npy(path("forecast.npy"));
  ASSERT_EQ(levels.shape(), (Shape{17, 1}));
  for (int n = 0; n < 17; ++n) EXPECT_EQ(levels[n], forecast.values[2 * n + 1]);
}

TEST_F(CsvCli, BadInputIsAUsageErrorAndWritesNothing) {
  expect_usage_error(train({"--target", "pulse"}),
                     "--target pulse: " + path("vitals.csv") + ": no column \"pulse\"");
  expect_usage_error(train({"--window", "60"}), "needs at least 61");
  expect_usage_error(train({"--window", "-3"}), "--window");
  expect_usage_error(train({"--features", "a,a"}), "listed twice");
  expect_usage_error(train({"--scale", "robust"}), "--scale");
  expect_usage_error(train({"--missing", "guess"}), "--missing");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));

  std::ofstream(path("shaped.json")) << R"({"input_shape": [7, 3],
      "layers": [{"type": "LSTM", "units": 4}, {"type": "Dense", "units": 1}], "loss": "mse"})";
  CliRun r = run_nnkit({"train", "--spec", path("shaped.json"), "--csv", path("vitals.csv"),
                        "--target", "b", "--window", "5", "--out", path("m.safetensors")});
  expect_usage_error(r, "input_shape [7,3] disagrees with --window 5");

  std::ofstream(path("gap.csv")) << "date,a,b\nd0,1,2\nd1,,3\nd2,4,5\n";
  r = run_nnkit({"train", "--spec", path("spec.json"), "--csv", path("gap.csv"), "--target", "b",
                 "--window", "1", "--out", path("m.safetensors")});
  expect_usage_error(r, "line 3");

  r = run_nnkit({"train", "--spec", path("spec.json"), "--x", path("vitals.csv"), "--y",
                 path("vitals.csv"), "--target", "b", "--out", path("m.safetensors")});
  expect_usage_error(r, "--target");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));

  // Predicting on a file without a column the model reads; then with a model trained on
  // arrays, which has no preprocessing to read a CSV with.
  ASSERT_EQ(train({}).status, 0);
  r = run_nnkit({"predict", "--model", path("m.safetensors"), "--csv", path("gap.csv"), "--out",
                 path("forecast.csv")});
  expect_usage_error(r, "no column \"c\"");
  Sequential dense = Sequential::from_spec(nlohmann::json::parse(R"({"input_shape": [2],
      "layers": [{"type": "Dense", "units": 1}], "loss": "mse"})"));
  save_model(path("dense.safetensors"), dense);
  r = run_nnkit({"predict", "--model", path("dense.safetensors"), "--csv", path("vitals.csv"),
                 "--out", path("forecast.csv")});
  expect_usage_error(r, "not trained on a CSV");
  EXPECT_FALSE(fs::exists(path("forecast.csv")));
}

// A stateful recurrent layer needs batches of one size: a batch size that leaves a smaller last
// batch is refused before training, naming one that fits, which then trains, validates and
// forecasts (train's validation forecasts and predict, in batches of that size).
TEST_F(CsvCli, StatefulModelsNeedABatchSizeThatDividesTheSamples) {
  std::ofstream(path("spec.json")) << R"({
      "layers": [{"type": "GRU", "units": 4, "stateful": true}, {"type": "Dense", "units": 1}],
      "loss": "mse", "seed": 3})";
  auto train_stateful = [&](const std::string& batch) {
    return train({"--epochs", "2", "--val-split", "0.2", "--batch-size", batch});
  };
  CliRun r = train_stateful("32");
  expect_usage_error(r, "layer 0 (GRU) is stateful");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
  const std::string advice = "such as ";
  const std::size_t at = r.err.find(advice);
  ASSERT_NE(at, std::string::npos) << r.describe();
  const std::string batch = std::to_string(std::stoi(r.err.substr(at + advice.size())));
  r = train_stateful(batch);
  ASSERT_EQ(r.status, 0) << r.describe();
  r = run_nnkit({"predict", "--model", path("m.safetensors"), "--csv", path("vitals.csv"), "--out",
                 path("forecast.csv"), "--batch-size", "5"});
  expect_usage_error(r, "predict: layer 0 (GRU) is stateful");
  EXPECT_FALSE(fs::exists(path("forecast.csv")));
  // 60 rows make 56 forecasts (the last one past the file's end): batches of 8 fit.
  r = run_nnkit({"predict", "--model", path("m.safetensors"), "--csv", path("vitals.csv"), "--out",
                 path("forecast.csv"), "--batch-size", "8"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(fs::exists(path("forecast.csv")));
}

}  // namespace
}  // namespace nnkit

namespace nnkit {
namespace {

// The report of a CSV run: the loss curves of every epoch with the best one marked, the
// validation metrics, and one forecast chart per target with a point per validation sample,
// labelled by the time column.
TEST_F(CsvCli, ReportShowsTheCurvesAndTheValidationForecasts) {
  CliRun r = train({"--val-split", "0.2", "--epochs", "7", "--early-stopping", "100", "--report",
                    path("report.html")});
  ASSERT_EQ(r.status, 0) << r.describe();
  const std::string page = read_file(path("report.html"));
  auto count = [&](const std::string& needle) {
    int n = 0;
    for (auto at = page.find(needle); at != std::string::npos; at = page.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<svg class=\"loss-chart\""), 1);
  EXPECT_EQ(count("data-name=\"loss\" data-points=\"7\""), 1) << page;
  EXPECT_EQ(count("data-name=\"val_loss\" data-points=\"7\""), 1);
  EXPECT_EQ(count("class=\"best-epoch\""), 1);
  EXPECT_EQ(count("<svg class=\"forecast-chart\" data-target=\"b\""), 1);
  // 60 rows, 20% validation: the targets of rows 48..59, 12 forecasts.
  EXPECT_EQ(count("data-name=\"actual\" data-points=\"12\""), 1) << page;
  EXPECT_EQ(count("data-name=\"predicted\" data-points=\"12\""), 1);
  EXPECT_EQ(count("data-name=\"naive\" data-points=\"12\""), 1);
  EXPECT_EQ(count("2026-01-48"), 1) << "the first validation target's time labels the axis";
  EXPECT_EQ(count("<script"), 0);
}

TEST_F(CsvCli, ReportInAMissingDirectoryFailsBeforeTraining) {
  expect_usage_error(train({"--report", path("no/report.html")}), "no/report.html");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
}

}  // namespace
}  // namespace nnkit
