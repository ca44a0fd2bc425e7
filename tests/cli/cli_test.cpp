// The command-line tool as a user meets it: a whole train/predict/evaluate/summary round,
// and every kind of bad input ending with exit status 2, one line on stderr, no output file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/cli_run.h"
#include "nlohmann/json.hpp"
#include "nnkit/data/csv.h"
#include "nnkit/data/npy.h"
#include "nnkit/io/model_file.h"
#include "nnkit/io/safetensors.h"
#include "nnkit/random.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;
namespace fs = std::filesystem;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    Rng rng(3);
    Tensor x({64, 3}), y({64, 1});
    for (int i = 0; i < 64; ++i) {
      for (int j = 0; j < 3; ++j) x[i * 3 + j] = rng.uniform(-1, 1);
      y[i] = 0.5f * x[i * 3] - 0.25f * x[i * 3 + 1] + 0.1f;
    }
    write_npy(path("x.npy"), x);
    write_npy(path("y.npy"), y);
    write(path("spec.json"), R"({"input_shape": [3],
      "layers": [{"type": "Dense", "units": 8, "activation": "tanh"}, {"type": "Dense", "units": 1}],
      "loss": "mse", "optimizer": {"type": "adam", "learning_rate": 0.01}, "metrics": ["mae"], "seed": 4})");
  }
  std::string path(const std::string& name) const { return scratch_.file(name); }
  static void write(const std::string& p, const std::string& text) { std::ofstream(p) << text; }

  // Exit status 2, exactly one line on stderr containing `needle`.
  static void expect_usage_error(const CliRun& r, const std::string& needle) {
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  }

  testing::ScratchDir scratch_;
};

TEST_F(Cli, TrainPredictEvaluateSummary) {
  CliRun r = run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x.npy"), "--y",
                        path("y.npy"), "--epochs", "40", "--batch-size", "8", "--quiet", "--log",
                        path("log.csv"), "--out", path("m.safetensors")});
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_TRUE(fs::exists(path("m.safetensors")));
  ASSERT_TRUE(fs::exists(path("log.csv")));

  r = run_nnkit({"evaluate", "--model", path("m.safetensors"), "--x", path("x.npy"), "--y",
                 path("y.npy"), "--json"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_LT(j.at("loss").get<double>(), 0.01) << r.out;
  EXPECT_TRUE(j.contains("mae")) << r.out;

  r = run_nnkit(
      {"predict", "--model", path("m.safetensors"), "--x", path("x.npy"), "--out", path("p.npy")});
  ASSERT_EQ(r.status, 0) << r.err;
  Tensor p = read_npy(path("p.npy"));
  EXPECT_EQ(p.shape(), (Shape{64, 1}));
  Tensor expected = load_model(path("m.safetensors")).predict(read_npy(path("x.npy")));
  EXPECT_EQ(p.to_vector(), expected.to_vector());

  r = run_nnkit({"summary", "--model", path("m.safetensors")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Total params: 41"), std::string::npos) << r.out;

  // Continue training from the file with another optimizer.
  r = run_nnkit({"train", "--model", path("m.safetensors"), "--x", path("x.npy"), "--y",
                 path("y.npy"), "--optimizer", "sgd", "--lr", "0.01", "--quiet", "--out",
                 path("m2.safetensors")});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(path("m2.safetensors")));
}

TEST_F(Cli, MissingInputFile) {
  expect_usage_error(run_nnkit({"predict", "--model", path("nope.safetensors"), "--x",
                                path("x.npy"), "--out", path("p.npy")}),
                     "nope.safetensors");
  EXPECT_FALSE(fs::exists(path("p.npy")));
}

TEST_F(Cli, MalformedNpy) {
  write(path("bad.npy"), "not an npy file at all");
  CliRun r = run_nnkit({"train", "--spec", path("spec.json"), "--x", path("bad.npy"), "--y",
                        path("y.npy"), "--quiet", "--out", path("m.safetensors")});
  expect_usage_error(r, "--x");
  EXPECT_NE(r.err.find("bad.npy"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
}

TEST_F(Cli, InvalidSpecJsonNamesLineAndColumn) {
  write(path("broken.json"), "{\n  \"layers\": [\n    {\"type\": \"Dense\" \"units\": 2}\n  ]\n}");
  CliRun r = run_nnkit({"train", "--spec", path("broken.json"), "--x", path("x.npy"), "--y",
                        path("y.npy"), "--quiet", "--out", path("m.safetensors")});
  expect_usage_error(r, "broken.json:3:");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
}

TEST_F(Cli, UnknownLayerType) {
  write(path("s.json"),
        R"({"input_shape": [3], "layers": [{"type": "Dense2", "units": 1}], "loss": "mse"})");
  expect_usage_error(run_nnkit({"train", "--spec", path("s.json"), "--x", path("x.npy"), "--y",
                                path("y.npy"), "--quiet", "--out", path("m.safetensors")}),
                     "Dense2");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
}

TEST_F(Cli, InputsOfTheWrongShape) {
  write_npy(path("x5.npy"), Tensor({64, 5}));
  expect_usage_error(run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x5.npy"), "--y",
                                path("y.npy"), "--quiet", "--out", path("m.safetensors")}),
                     "[3]");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
}

TEST_F(Cli, TargetsOfTheWrongCount) {
  write_npy(path("y10.npy"), Tensor({10, 1}));
  expect_usage_error(run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x.npy"), "--y",
                                path("y10.npy"), "--quiet", "--out", path("m.safetensors")}),
                     "64 samples");
}

TEST_F(Cli, OutputDirectoryMissing) {
  expect_usage_error(
      run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x.npy"), "--y", path("y.npy"),
                 "--quiet", "--out", path("no/such/dir/m.safetensors")}),
      "does not exist");
}

TEST_F(Cli, FailedTrainLeavesAnExistingOutputUntouched) {
  write(path("m.safetensors"), "old contents");
  write_npy(path("y10.npy"), Tensor({10, 1}));
  CliRun r = run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x.npy"), "--y",
                        path("y10.npy"), "--quiet", "--out", path("m.safetensors")});
  EXPECT_EQ(r.status, 2);
  std::ifstream in(path("m.safetensors"));
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(contents, "old contents");
}

TEST_F(Cli, CorruptModelFile) {
  write(path("m.safetensors"), std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10));
  expect_usage_error(run_nnkit({"predict", "--model", path("m.safetensors"), "--x", path("x.npy"),
                                "--out", path("p.npy")}),
                     "m.safetensors");
  EXPECT_FALSE(fs::exists(path("p.npy")));
}

TEST_F(Cli, UnknownFlagAndMissingArguments) {
  expect_usage_error(run_nnkit({"train", "--bogus"}), "--bogus");
  expect_usage_error(run_nnkit({"predict", "--x", path("x.npy")}), "--model");
  expect_usage_error(run_nnkit({"frobnicate"}), "frobnicate");
  expect_usage_error(
      run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x.npy"), "--y", path("y.npy"),
                 "--batch-size", "0", "--out", path("m.safetensors")}),
      "--batch-size");
  expect_usage_error(
      run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x.npy"), "--y", path("y.npy"),
                 "--optimizer", "adamm", "--quiet", "--out", path("m.safetensors")}),
      "adamm");
}

TEST_F(Cli, EvaluateWithoutTargets) {
  // A real model whose spec has no "target": "input": the missing --y is the only problem (found
  // once the model is read, since an autoencoder's spec needs none).
  const std::string dir = std::string(NNKIT_FIXTURES_DIR) + "/dense_stack/";
  expect_usage_error(
      run_nnkit({"evaluate", "--model", dir + "model.safetensors", "--x", dir + "x.npy"}),
      "--x requires --y");
}

TEST_F(Cli, UnsupportedNpyDtype) {
  // A valid .npy of big-endian float32: refused by name, not misread.
  std::string header = "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 3), }";
  header.resize(117, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + char(header.size() & 0xff) + char(0) +
                      header + std::string(12, '\0');
  write(path("be.npy"), bytes);
  CliRun r = run_nnkit(
      {"predict", "--model", path("x.npy"), "--x", path("be.npy"), "--out", path("p.npy")});
  EXPECT_EQ(r.status, 2) << r.describe();
  r = run_nnkit({"train", "--spec", path("spec.json"), "--x", path("be.npy"), "--y", path("y.npy"),
                 "--quiet", "--out", path("m.safetensors")});
  expect_usage_error(r, "'>f4'");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
}

TEST_F(Cli, UnknownActivationInSpec) {
  write(
      path("s.json"),
      R"({"input_shape": [3], "layers": [{"type": "Dense", "units": 1, "activation": "sigmoidd"}], "loss": "mse"})");
  expect_usage_error(run_nnkit({"summary", "--spec", path("s.json")}), "sigmoidd");
}

TEST_F(Cli, ValidationSplitOutOfRange) {
  expect_usage_error(
      run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x.npy"), "--y", path("y.npy"),
                 "--val-split", "1.5", "--out", path("m.safetensors")}),
      "--val-split");
}

TEST_F(Cli, ModelFileMissingATensor) {
  ASSERT_EQ(run_nnkit({"train", "--spec", path("spec.json"), "--x", path("x.npy"), "--y",
                       path("y.npy"), "--quiet", "--out", path("m.safetensors")})
                .status,
            0);
  SafetensorsFile file = read_safetensors(path("m.safetensors"));
  file.tensors.pop_back();
  write_safetensors(path("m.safetensors"), file);
  expect_usage_error(run_nnkit({"predict", "--model", path("m.safetensors"), "--x", path("x.npy"),
                                "--out", path("p.npy")}),
                     "layers.1.bias' is missing");
  EXPECT_FALSE(fs::exists(path("p.npy")));
}

TEST_F(Cli, DivergedTrainingWritesNoModel) {
  // SGD at 1e20 overflows within a few steps; with early stopping (which would restore the
  // first epoch's finite weights) as without.
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--early-stopping", "3"}}) {
    std::vector<std::string> args = {"train",
                                     "--spec",
                                     path("spec.json"),
                                     "--x",
                                     path("x.npy"),
                                     "--y",
                                     path("y.npy"),
                                     "--optimizer",
                                     "sgd",
                                     "--lr",
                                     "1e20",
                                     "--epochs",
                                     "5",
                                     "--quiet",
                                     "--log",
                                     path("log.csv"),
                                     "--out",
                                     path("m.safetensors")};
    args.insert(args.end(), extra.begin(), extra.end());
    expect_usage_error(run_nnkit(args), "training diverged: the loss became");
    EXPECT_FALSE(fs::exists(path("m.safetensors")));
    EXPECT_FALSE(fs::exists(path("log.csv")));
  }
}

TEST_F(Cli, XorDemoRuns) {
  CliRun r = run_nnkit({"demo", "--xor"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("converged"), std::string::npos) << r.out;
}

TEST_F(Cli, HealthDemoGoesFromCsvToModelToForecasts) {
  // Shortened: 20 days, 2 epochs. The full demo is the README's first command.
  CliRun r = run_nnkit({"demo", "--out", path("demo"), "--days", "20", "--epochs", "2"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("heart_rate: rmse "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("naive last value: rmse "), std::string::npos) << r.out;
  const CsvTable vitals = read_csv(path("demo/vitals.csv"));
  EXPECT_EQ(vitals.rows(), 20 * 24);
  EXPECT_EQ(vitals.columns, (std::vector<std::string>{"heart_rate", "systolic_bp", "diastolic_bp",
                                                      "temperature", "steps", "spo2"}));
  Sequential model = load_model(path("demo/health.safetensors"));
  EXPECT_EQ(model.input_shape(), (Shape{24, 6})) << "the reference configuration: 6 features";
  int64_t params = 0;
  for (auto& [name, param] : model.named_params()) params += param->value.size();
  EXPECT_EQ(params, 4 * 128 * (6 + 128 + 2) + 128 + 1) << "LSTM 128 and a Dense head";

  r = run_nnkit({"predict", "--model", path("demo/health.safetensors"), "--csv",
                 path("demo/vitals.csv"), "--out", path("demo/forecast.csv")});
  ASSERT_EQ(r.status, 0) << r.describe();
  const CsvTable forecast = read_csv(path("demo/forecast.csv"));
  EXPECT_EQ(forecast.rows(), 20 * 24 - 24 + 1);
  EXPECT_EQ(forecast.time.front(), "2026-01-02T00:00") << "the forecast for the 25th hour";
}

}  // namespace
}  // namespace nnkit
