// nnkit train and evaluate on an autoencoder's spec ("target": "input"): --x alone, the inputs
// serving as targets.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "cli/cli_run.h"
#include "nlohmann/json.hpp"
#include "nnkit/data/npy.h"
#include "nnkit/random.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using nlohmann::json;
using testing::run_nnkit;

class AutoencoderCli : public ::testing::Test {
 protected:
  void SetUp() override {
    Rng rng(77);
    // Points in [0, 1]^6 near a 2-D plane, which a 6-2-6 network can reconstruct.
    x_ = Tensor({24, 6});
    for (int64_t n = 0; n < 24; ++n) {
      const float a = rng.uniform(), b = rng.uniform();
      for (int64_t f = 0; f < 6; ++f)
        x_[n * 6 + f] = 0.1f + 0.4f * (f % 2 ? a : b) + 0.3f * (f < 3 ? a : b) * 0.5f;
    }
    write_npy(path("x.npy"), x_);
  }

  std::string path(const std::string& name) const { return scratch_.file(name); }

  void write_spec(const std::string& name, const json& extra) {
    json spec = {{"input_shape", {6}},
                 {"layers",
                  {{{"type", "Dense"}, {"units", 2}, {"activation", "tanh"}},
                   {{"type", "Dense"}, {"units", 6}, {"activation", "sigmoid"}}}},
                 {"loss", "mse"},
                 {"optimizer", {{"type", "adam"}, {"learning_rate", 0.05}}},
                 {"seed", 3}};
    spec.update(extra);
    std::ofstream(path(name)) << spec.dump();
  }

  Tensor x_;
  testing::ScratchDir scratch_;
};

TEST_F(AutoencoderCli, TrainsAndEvaluatesWithoutTargets) {
  write_spec("ae.json", {{"target", "input"}});
  const auto trained =
      run_nnkit({"train", "--spec", path("ae.json"), "--x", path("x.npy"), "--epochs", "60",
                 "--batch-size", "8", "--quiet", "--out", path("ae.safetensors")});
  ASSERT_EQ(trained.status, 0) << trained.describe();
  const auto evaluated =
      run_nnkit({"evaluate", "--model", path("ae.safetensors"), "--x", path("x.npy"), "--json"});
  ASSERT_EQ(evaluated.status, 0) << evaluated.describe();
  const double loss = json::parse(evaluated.out).at("loss").get<double>();
  // The loss is the mean squared difference between the reconstruction and x itself.
  const auto predicted = run_nnkit(
      {"predict", "--model", path("ae.safetensors"), "--x", path("x.npy"), "--out", path("p.npy")});
  ASSERT_EQ(predicted.status, 0) << predicted.describe();
  const Tensor p = read_npy(path("p.npy"));
  ASSERT_EQ(p.shape(), x_.shape());
  double sum = 0, spread = 0, mean = 0;
  for (int64_t i = 0; i < x_.size(); ++i) mean += x_[i] / static_cast<double>(x_.size());
  for (int64_t i = 0; i < x_.size(); ++i) {
    sum += (double(p[i]) - x_[i]) * (double(p[i]) - x_[i]);
    spread += (x_[i] - mean) * (x_[i] - mean);
  }
  EXPECT_NEAR(loss, sum / static_cast<double>(x_.size()), 1e-6);
  // And it learnt something: well below the variance of x.
  EXPECT_LT(loss, 0.25 * spread / static_cast<double>(x_.size()));
  // --y may still be given (it then is the target).
  const auto with_y = run_nnkit({"evaluate", "--model", path("ae.safetensors"), "--x",
                                 path("x.npy"), "--y", path("p.npy"), "--json"});
  ASSERT_EQ(with_y.status, 0) << with_y.describe();
  EXPECT_NEAR(json::parse(with_y.out).at("loss").get<double>(), 0.0, 1e-9);
}

TEST_F(AutoencoderCli, OtherSpecsStillNeedTargets) {
  write_spec("plain.json", json::object());
  const auto r = run_nnkit({"train", "--spec", path("plain.json"), "--x", path("x.npy"), "--quiet",
                            "--out", path("m.safetensors")});
  EXPECT_EQ(r.status, 2) << r.describe();
  EXPECT_NE(r.err.find("--x requires --y"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"target\": \"input\""), std::string::npos) << r.err;
  write_spec("bad.json", {{"target", "labels"}});
  const auto bad = run_nnkit({"train", "--spec", path("bad.json"), "--x", path("x.npy"), "--quiet",
                              "--out", path("m.safetensors")});
  EXPECT_EQ(bad.status, 2) << bad.describe();
  EXPECT_NE(bad.err.find("'target' must be \"input\""), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace nnkit
