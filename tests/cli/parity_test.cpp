// Parity of the command-line tool with PyTorch. For every case directory in tests/fixtures/
// (written by tests/fixtures/make_fixtures.py with torch), `nnkit predict`, `nnkit evaluate
// --json` and one full-batch SGD step of `nnkit train` must reproduce torch's outputs, loss and
// updated tensors (BatchNormalization running statistics included).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "cli/cli_run.h"
#include "nlohmann/json.hpp"
#include "nnkit/data/npy.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/safetensors.h"
#include "nnkit/tensor.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

namespace fs = std::filesystem;
using testing::CliRun;
using testing::run_nnkit;

constexpr char kRegenerate[] =
    "\nIf the fixtures are stale (a convention changed on purpose), regenerate them from the "
    "repository root with: python3 tests/fixtures/make_fixtures.py (needs python3-torch)";

// Outputs, losses and tensors: |got - want| <= kRel * |want| + kAbs.
constexpr double kRel = 1e-4;
constexpr double kAbs = 1e-6;
// The change one SGD step makes (after - before), against torch's change, within this fraction
// of the tensor's largest change (plus kAbs): a wrong gradient can hide inside kRel of the
// weights themselves, not inside this.
constexpr double kUpdateRel = 2e-3;

fs::path fixtures_dir() { return fs::path(NNKIT_FIXTURES_DIR); }

// Every subdirectory of the fixtures directory holding a model.safetensors, sorted.
std::vector<std::string> fixture_cases() {
  std::vector<std::string> cases;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(fixtures_dir(), error)) {
    if (entry.is_directory() && fs::exists(entry.path() / "model.safetensors")) {
      cases.push_back(entry.path().filename().string());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

// Element-wise |got - want| <= rel * |want| + abs; names the worst element.
::testing::AssertionResult values_close(const std::string& what, const Tensor& got,
                                        const Tensor& want, double rel, double abs) {
  if (got.shape() != want.shape()) {
    return ::testing::AssertionFailure()
           << what << ": shape " << shape_to_string(got.shape()) << ", torch has "
           << shape_to_string(want.shape()) << kRegenerate;
  }
  int64_t worst = -1;
  double worst_excess = 0.0;
  for (int64_t i = 0; i < want.size(); ++i) {
    const double g = got[i];
    const double w = want[i];
    const double excess = std::abs(g - w) - (rel * std::abs(w) + abs);
    if (!(excess <= worst_excess) || std::isnan(g)) {
      worst = i;
      worst_excess = std::isnan(g) ? std::numeric_limits<double>::infinity() : excess;
    }
  }
  if (worst < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": element " << worst << " (row-major, shape " << shape_to_string(want.shape())
         << ") is " << got[worst] << ", torch has " << want[worst] << " (tolerance " << rel
         << " relative + " << abs << ")" << kRegenerate;
}

// The step itself: (got - before) against (want - before), within kUpdateRel of the largest
// change torch makes to this tensor.
::testing::AssertionResult update_close(const std::string& what, const Tensor& before,
                                        const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape() || before.shape() != want.shape()) {
    return values_close(what, got, want, kRel, kAbs);
  }
  Tensor got_change(want.shape());
  Tensor want_change(want.shape());
  double largest = 0.0;
  for (int64_t i = 0; i < want.size(); ++i) {
    got_change[i] = got[i] - before[i];
    want_change[i] = want[i] - before[i];
    largest = std::max(largest, static_cast<double>(std::abs(want_change[i])));
  }
  return values_close(what + " (its change in the SGD step)", got_change, want_change, 0.0,
                      kUpdateRel * largest + kAbs);
}

double loss_from_json(const std::string& text, const std::string& key) {
  return nlohmann::json::parse(text).at(key).get<double>();
}

// The single JSON object `nnkit evaluate --json` prints.
nlohmann::json evaluate_json(const CliRun& run) {
  const auto begin = run.out.find('{');
  const auto end = run.out.rfind('}');
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    return nlohmann::json();
  }
  return nlohmann::json::parse(run.out.substr(begin, end - begin + 1), nullptr, false);
}

// The spec's learning rate, as the JSON wrote it ("0.1", not "0.10000000000000001").
std::string learning_rate_of(const SafetensorsFile& model) {
  const auto spec = nlohmann::json::parse(model.metadata.at("nnkit.spec"));
  return spec.at("optimizer").at("learning_rate").dump();
}

// `nnkit train` for one epoch of one full batch, without shuffling: exactly one SGD step.
CliRun train_one_step(const fs::path& dir, const std::string& out) {
  const SafetensorsFile model = read_safetensors((dir / "model.safetensors").string());
  const Tensor x = read_npy((dir / "x.npy").string());
  return run_nnkit({"train", "--model", (dir / "model.safetensors").string(), "--x",
                    (dir / "x.npy").string(), "--y", (dir / "y.npy").string(), "--epochs", "1",
                    "--batch-size", std::to_string(x.dim(0)), "--no-shuffle", "--optimizer", "sgd",
                    "--lr", learning_rate_of(model), "--out", out});
}

class CliParity : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir() const { return fixtures_dir() / GetParam(); }
  std::string file(const std::string& name) const { return (dir() / name).string(); }
};

TEST_P(CliParity, PredictMatchesTorchInference) {
  testing::ScratchDir scratch;
  const std::string out = scratch.file("pred.npy");
  const CliRun run = run_nnkit(
      {"predict", "--model", file("model.safetensors"), "--x", file("x.npy"), "--out", out});
  ASSERT_EQ(run.status, 0) << run.describe();
  EXPECT_TRUE(
      values_close(GetParam() + " predict", read_npy(out), read_npy(file("pred.npy")), kRel, kAbs));
}

TEST_P(CliParity, EvaluateLossMatchesTorch) {
  testing::ScratchDir scratch;
  const CliRun run = run_nnkit({"evaluate", "--model", file("model.safetensors"), "--x",
                                file("x.npy"), "--y", file("y.npy"), "--json"});
  ASSERT_EQ(run.status, 0) << run.describe();
  const nlohmann::json result = evaluate_json(run);
  ASSERT_TRUE(result.is_object() && result.contains("loss") && result["loss"].is_number())
      << "expected one JSON object with a numeric \"loss\"\n"
      << run.describe();
  const double got = result["loss"].get<double>();
  const double want = loss_from_json(nnkit::read_file((dir() / "loss.json").string()), "loss");
  EXPECT_LE(std::abs(got - want), kRel * std::abs(want) + kAbs)
      << GetParam() << " evaluate: loss " << got << ", torch has " << want << kRegenerate;
}

TEST_P(CliParity, TrainOneFullBatchSgdStepMatchesTorch) {
  testing::ScratchDir scratch;
  const std::string out = scratch.file("trained.safetensors");
  const CliRun run = train_one_step(dir(), out);
  ASSERT_EQ(run.status, 0) << run.describe();

  const SafetensorsFile before = read_safetensors(file("model.safetensors"));
  const SafetensorsFile want = read_safetensors(file("after_sgd.safetensors"));
  const SafetensorsFile got = read_safetensors(out);
  EXPECT_EQ(got.metadata.count("nnkit.spec"), 1u) << out << " has no nnkit.spec metadata";
  ASSERT_EQ(got.metadata.count("nnkit.format"), 1u) << out << " has no nnkit.format metadata";
  EXPECT_EQ(got.metadata.at("nnkit.format"), "1");

  std::set<std::string> expected;
  for (const auto& [name, want_value] : want.tensors) {
    expected.insert(name);
    const Tensor* got_value = got.find(name);
    const Tensor* before_value = before.find(name);
    if (got_value == nullptr) {
      ADD_FAILURE() << GetParam() << ": " << out << " has no tensor " << name << kRegenerate;
      continue;
    }
    ASSERT_NE(before_value, nullptr) << name;
    const std::string what = GetParam() + " train: " + name;
    EXPECT_TRUE(values_close(what, *got_value, want_value, kRel, kAbs));
    EXPECT_TRUE(update_close(what, *before_value, *got_value, want_value));
  }
  for (const auto& [name, value] : got.tensors) {
    if (name.rfind("layers.", 0) == 0) {
      EXPECT_EQ(expected.count(name), 1u) << GetParam() << ": the trained model has a tensor "
                                          << name << " that torch's model does not" << kRegenerate;
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Fixtures, CliParity, ::testing::ValuesIn(fixture_cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(CliParity);

// Every case make_fixtures.py writes.
constexpr const char* kExpectedCases[] = {
    "worked_example", "dense_stack", "act_sigmoid", "act_leaky_relu", "act_selu", "act_softplus",
    "act_softsign", "act_linear", "act_leaky_relu_02", "batchnorm", "prelu", "binary",
    "activation_layers", "maxout", "flatten",
    // Recurrent layers.
    "lstm_last", "lstm_sequences", "lstm_stacked", "lstm_go_backwards",
    "lstm_go_backwards_sequences", "gru_last", "gru_sequences", "simple_rnn_last",
    "simple_rnn_relu_sequences", "lstm_no_bias",
    // Bidirectional.
    "bilstm_last", "bilstm_sequences", "bigru_last", "bigru_sequences", "bilstm_sum",
    "bilstm_stacked", "bisimple_rnn_mul_sequences",
    // Convolutional.
    "conv_stack", "conv_batchnorm", "conv_strided_dilated", "pooling_same",
    // Transposed convolutions and upsampling (decoders).
    "conv_transpose_decoder", "conv_transpose_strides"};

TEST(CliParityFixtures, EveryCaseIsPresentAndComplete) {
  const std::vector<std::string> cases = fixture_cases();
  for (const char* name : kExpectedCases) {
    EXPECT_NE(std::find(cases.begin(), cases.end(), name), cases.end())
        << "missing fixture case " << name << " in " << fixtures_dir() << kRegenerate;
  }
  for (const auto& name : cases) {
    for (const char* file : {"model.safetensors", "x.npy", "y.npy", "pred.npy", "loss.json",
                             "after_sgd.safetensors"}) {
      EXPECT_TRUE(fs::exists(fixtures_dir() / name / file))
          << "missing " << (fixtures_dir() / name / file) << kRegenerate;
    }
  }
}

// The classic 2-2-2 sigmoid network worked by hand: x = [0.05, 0.10], y = [0.01, 0.99],
// lr 0.5. The hand values are rounded to ~9 digits; nnkit must agree to 1e-6.
class CliWorkedExample : public ::testing::Test {
 protected:
  static constexpr double kTolerance = 1e-6;
  fs::path dir() const { return fixtures_dir() / "worked_example"; }
  std::string file(const std::string& name) const { return (dir() / name).string(); }

  static void expect_values(const std::string& what, const Tensor& got,
                            const std::vector<float>& want) {
    ASSERT_EQ(got.size(), static_cast<int64_t>(want.size())) << what;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[static_cast<int64_t>(i)], want[i], kTolerance)
          << what << "[" << i << "]" << kRegenerate;
    }
  }
};

TEST_F(CliWorkedExample, PredictGivesTheKnownOutputs) {
  testing::ScratchDir scratch;
  const std::string out = scratch.file("pred.npy");
  const CliRun run = run_nnkit(
      {"predict", "--model", file("model.safetensors"), "--x", file("x.npy"), "--out", out});
  ASSERT_EQ(run.status, 0) << run.describe();
  expect_values("predict", read_npy(out), {0.75136507f, 0.772928465f});
}

TEST_F(CliWorkedExample, EvaluateGivesTheKnownLoss) {
  testing::ScratchDir scratch;
  const CliRun run = run_nnkit({"evaluate", "--model", file("model.safetensors"), "--x",
                                file("x.npy"), "--y", file("y.npy"), "--json"});
  ASSERT_EQ(run.status, 0) << run.describe();
  const nlohmann::json result = evaluate_json(run);
  ASSERT_TRUE(result.is_object() && result.contains("loss") && result["loss"].is_number())
      << run.describe();
  // mse, the mean over the two outputs: the hand calculation's ½·Σ(t − o)².
  EXPECT_NEAR(result["loss"].get<double>(), 0.298371109, kTolerance) << kRegenerate;
}

TEST_F(CliWorkedExample, OneSgdStepGivesTheKnownWeights) {
  testing::ScratchDir scratch;
  const std::string out = scratch.file("trained.safetensors");
  const CliRun run = train_one_step(dir(), out);
  ASSERT_EQ(run.status, 0) << run.describe();
  const SafetensorsFile got = read_safetensors(out);
  const Tensor* w1_w4 = got.find("layers.0.weight");
  const Tensor* w5_w8 = got.find("layers.1.weight");
  ASSERT_NE(w1_w4, nullptr) << out;
  ASSERT_NE(w5_w8, nullptr) << out;
  expect_values("w1..w4", *w1_w4, {0.149780716f, 0.19956143f, 0.24975114f, 0.29950229f});
  expect_values("w5..w8", *w5_w8, {0.35891648f, 0.408666186f, 0.511301270f, 0.561370121f});
}

}  // namespace
}  // namespace nnkit
