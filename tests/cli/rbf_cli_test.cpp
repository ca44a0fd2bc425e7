// An RBF network through `nnkit train --spec`: k-means places the centres inside fit(), the
// network learns a smooth 2-D function, and the model file predicts with it.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "cli/cli_run.h"
#include "nlohmann/json.hpp"
#include "nnkit/data/npy.h"
#include "nnkit/io/model_file.h"
#include "nnkit/random.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;

// The "loss" column of a --log CSV, one value per epoch.
std::vector<double> logged_losses(const std::string& path) {
  std::ifstream in(path);
  std::string line, cell;
  std::getline(in, line);
  std::stringstream header(line);
  int column = -1;
  for (int i = 0; std::getline(header, cell, ','); ++i) {
    if (cell == "loss") column = i;
  }
  std::vector<double> out;
  while (column >= 0 && std::getline(in, line)) {
    std::stringstream row(line);
    for (int i = 0; std::getline(row, cell, ','); ++i) {
      if (i == column) out.push_back(std::stod(cell));
    }
  }
  return out;
}

TEST(RbfCli, TrainsAnRbfSpecAndLearns) {
  testing::ScratchDir scratch;
  auto path = [&](const std::string& name) { return scratch.file(name); };
  // y = sin(2·x0)·cos(2·x1) on [−1.5, 1.5]²: variance about 0.2.
  Rng rng(21);
  Tensor x({300, 2}), y({300, 1});
  double mean = 0, var = 0;
  for (int i = 0; i < 300; ++i) {
    x[i * 2] = rng.uniform(-1.5f, 1.5f);
    x[i * 2 + 1] = rng.uniform(-1.5f, 1.5f);
    y[i] = std::sin(2 * x[i * 2]) * std::cos(2 * x[i * 2 + 1]);
    mean += y[i] / 300.0;
  }
  for (float v : y) var += (v - mean) * (v - mean) / 300.0;
  write_npy(path("x.npy"), x);
  write_npy(path("y.npy"), y);
  std::ofstream(path("rbf.json")) << R"({"input_shape": [2],
    "layers": [{"type": "RBF", "units": 30}, {"type": "Dense", "units": 1}],
    "loss": "mse", "optimizer": {"type": "adam", "learning_rate": 0.02}, "seed": 7})";

  CliRun r = run_nnkit({"train", "--spec", path("rbf.json"), "--x", path("x.npy"), "--y",
                        path("y.npy"), "--epochs", "40", "--batch-size", "16", "--quiet", "--log",
                        path("log.csv"), "--out", path("rbf.safetensors")});
  ASSERT_EQ(r.status, 0) << r.describe();
  std::vector<double> losses = logged_losses(path("log.csv"));
  ASSERT_EQ(losses.size(), 40u);
  EXPECT_LT(losses.back(), 0.1 * losses.front());
  EXPECT_LT(losses.back(), 0.05 * var) << "variance " << var;

  // The file keeps the layer: its centres lie in the data's square, as k-means put them.
  Sequential model = load_model(path("rbf.safetensors"));
  ASSERT_EQ(model.layer(0).type(), "RBF");
  for (float c : model.layer(0).params()[0]->value) EXPECT_LT(std::fabs(c), 1.7f);
  r = run_nnkit({"evaluate", "--model", path("rbf.safetensors"), "--x", path("x.npy"), "--y",
                 path("y.npy"), "--json"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_LT(nlohmann::json::parse(r.out).at("loss").get<double>(), 0.05 * var) << r.out;
}

TEST(RbfCli, TooFewSamplesForKMeansIsAUsageError) {
  testing::ScratchDir scratch;
  auto path = [&](const std::string& name) { return scratch.file(name); };
  write_npy(path("x.npy"), Tensor({5, 2}, 0.5f));
  write_npy(path("y.npy"), Tensor({5, 1}));
  std::ofstream(path("rbf.json")) << R"({"input_shape": [2],
    "layers": [{"type": "RBF", "units": 8}, {"type": "Dense", "units": 1}], "loss": "mse"})";
  CliRun r = run_nnkit({"train", "--spec", path("rbf.json"), "--x", path("x.npy"), "--y",
                        path("y.npy"), "--quiet", "--out", path("m.safetensors")});
  EXPECT_EQ(r.status, 2) << r.describe();
  EXPECT_NE(r.err.find("RBF(units=8): k-means initialisation needs at least 8 training samples, "
                       "got 5"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace nnkit
