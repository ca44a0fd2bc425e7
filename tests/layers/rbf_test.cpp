#include "nnkit/layers/rbf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers/registry.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_layer_gradients;
using testing::expect_throw_containing;
using testing::random_tensor;

TEST(RBF, BuildsCentresAndWidths) {
  Rng rng(1);
  RBF rbf({.units = 4});
  EXPECT_EQ(rbf.build({3}, rng), (Shape{4}));
  ASSERT_EQ(rbf.params().size(), 2u);
  EXPECT_EQ(rbf.params()[0]->name, "centers");
  EXPECT_EQ(rbf.params()[0]->value.shape(), (Shape{4, 3}));
  EXPECT_EQ(rbf.params()[1]->name, "log_betas");
  EXPECT_EQ(rbf.params()[1]->value.shape(), (Shape{4}));
  for (float v : rbf.params()[0]->value) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
  }
  for (float v : rbf.params()[1]->value) EXPECT_EQ(v, 0.0f);  // β = 1
  EXPECT_EQ(rbf.param_count(), 16);
}

TEST(RBF, HandWorkedForward) {
  // Centres (0, 0) and (1, 2); β = 1 and 0.5. x = (1, 0): ‖x − c‖² = 1 and 4, so e^−1 and
  // e^−2; x = (1, 2): 5 and 0, so e^−5 and 1.
  Rng rng(2);
  RBF rbf({.units = 2});
  rbf.build({2}, rng);
  rbf.params()[0]->value = Tensor({2, 2}, {0, 0, 1, 2});
  rbf.params()[1]->value = Tensor({2}, {0.0f, std::log(0.5f)});
  Tensor y = rbf.forward(Tensor({2, 2}, {1, 0, 1, 2}), Mode::Infer);
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_NEAR(y[0], std::exp(-1.0), 1e-6);
  EXPECT_NEAR(y[1], std::exp(-2.0), 1e-6);
  EXPECT_NEAR(y[2], std::exp(-5.0), 1e-7);
  EXPECT_NEAR(y[3], 1.0, 1e-6);
}

TEST(RBF, HandWorkedBackward) {
  // One centre c = (1, 0), β = 2, x = (0, 0): D = 1, φ = e^−2. With dy = 1:
  // ∂φ/∂x = −2β(x − c)φ = (4e^−2, 0); ∂φ/∂c = −∂φ/∂x; ∂φ/∂log β = −βDφ = −2e^−2.
  Rng rng(3);
  RBF rbf({.units = 1});
  rbf.build({2}, rng);
  rbf.params()[0]->value = Tensor({1, 2}, {1, 0});
  rbf.params()[1]->value = Tensor({1}, {std::log(2.0f)});
  rbf.zero_grad();
  rbf.forward(Tensor({1, 2}, {0, 0}), Mode::Train);
  Tensor dx = rbf.backward(Tensor({1, 1}, {1}));
  const double e2 = std::exp(-2.0);
  EXPECT_NEAR(dx[0], 4 * e2, 1e-6);
  EXPECT_NEAR(dx[1], 0.0, 1e-6);
  EXPECT_NEAR(rbf.params()[0]->grad[0], -4 * e2, 1e-6);
  EXPECT_NEAR(rbf.params()[0]->grad[1], 0.0, 1e-6);
  EXPECT_NEAR(rbf.params()[1]->grad[0], -2 * e2, 1e-6);
}

TEST(RBF, BackwardMatchesFiniteDifferences) {
  // Inputs, centres and widths all checked; widths kept moderate so φ is not flat.
  for (uint64_t seed : {4, 5}) {
    Rng rng(seed);
    RBF rbf({.units = 5, .initializer = "random"});
    rbf.build({3}, rng);
    for (float& v : rbf.params()[1]->value) v = rng.uniform(-1.0f, 0.5f);
    expect_layer_gradients(rbf, random_tensor({6, 3}, rng));
  }
}

TEST(RBF, AdaptPlacesCentresAndWidthsByKMeans) {
  // Clusters {0, 2} and {10, 14}: centres 1 and 12, mean distances 1 and 2, so β = 1/2 and 1/8.
  Rng rng(6);
  RBF rbf({.units = 2});
  rbf.build({1}, rng);
  EXPECT_TRUE(rbf.wants_adapt());
  rbf.adapt(Tensor({4, 1}, {0, 10, 2, 14}), rng);
  EXPECT_FALSE(rbf.wants_adapt());
  const Tensor& c = rbf.params()[0]->value;
  const Tensor& lb = rbf.params()[1]->value;
  int low = c[0] < c[1] ? 0 : 1;
  EXPECT_FLOAT_EQ(c[low], 1.0f);
  EXPECT_FLOAT_EQ(c[1 - low], 12.0f);
  EXPECT_NEAR(lb[low], std::log(0.5), 1e-6);
  EXPECT_NEAR(lb[1 - low], std::log(0.125), 1e-6);
}

TEST(RBF, ASingletonClusterTakesTheOthersMeanWidth) {
  // {0, 2} (σ = 1) and {10} alone (σ = 0, takes 1): β = 1/2 for both.
  Rng rng(7);
  RBF rbf({.units = 2});
  rbf.build({1}, rng);
  rbf.adapt(Tensor({3, 1}, {0, 2, 10}), rng);
  for (float v : rbf.params()[1]->value) EXPECT_NEAR(v, std::log(0.5), 1e-6);
  // All points equal: no spread anywhere, β = 1.
  RBF flat({.units = 2});
  flat.build({1}, rng);
  flat.adapt(Tensor({3, 1}, {4, 4, 4}), rng);
  for (float v : flat.params()[1]->value) EXPECT_EQ(v, 0.0f);
}

TEST(RBF, WantsAdaptOnlyWithFreshKMeansCentres) {
  Rng rng(8);
  RBF random({.units = 2, .initializer = "random"});
  random.build({2}, rng);
  EXPECT_FALSE(random.wants_adapt());
  RBF unbuilt({.units = 2});
  EXPECT_FALSE(unbuilt.wants_adapt());
  // Centres set from elsewhere (a model file, set_weights, training): no k-means over them.
  RBF loaded({.units = 2});
  loaded.build({2}, rng);
  EXPECT_TRUE(loaded.wants_adapt());
  loaded.params()[0]->value[3] += 0.5f;
  EXPECT_FALSE(loaded.wants_adapt());
}

TEST(RBF, ConfigRoundTripsThroughTheRegistry) {
  nlohmann::json spec = {{"type", "RBF"}, {"units", 7}, {"initializer", "random"}};
  std::unique_ptr<Layer> layer = make_layer(spec);
  EXPECT_EQ(layer->type(), "RBF");
  EXPECT_EQ(
      layer->config(),
      (nlohmann::json{
          {"type", "RBF"}, {"units", 7}, {"initializer", "random"}, {"kmeans_iterations", 100}}));
  EXPECT_EQ(make_layer(layer->config())->config(), layer->config());
}

TEST(RBF, RejectsBadArgumentsAndShapes) {
  expect_throw_containing<ValueError>([] { RBF({.units = 0}); },
                                      "RBF: units must be positive, got 0");
  expect_throw_containing<ValueError>(
      [] { RBF({.units = 3, .initializer = "zeros"}); },
      "RBF(units=3): initializer must be \"kmeans\" or \"random\", got \"zeros\"");
  expect_throw_containing<ValueError>([] { RBF({.units = 3, .kmeans_iterations = 0}); },
                                      "RBF(units=3): kmeans_iterations must be >= 1, got 0");
  expect_throw_containing<ValueError>([] { make_layer({{"type", "RBF"}}); }, "units");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "RBF"}, {"units", 2}, {"centres", 2}});
      },
      "centres");
  Rng rng(9);
  RBF rbf({.units = 3});
  expect_throw_containing<ShapeError>(
      [&] {
        rbf.build({2, 2}, rng);
      },
      "RBF(units=3): expected input [N, features], got per-sample shape [2, 2]");
  expect_throw_containing<ValueError>(
      [&] {
        rbf.forward(Tensor({1, 2}), Mode::Infer);
      },
      "RBF(units=3)");
  rbf.build({2}, rng);
  expect_throw_containing<ShapeError>(
      [&] {
        rbf.forward(Tensor({1, 3}), Mode::Infer);
      },
      "RBF(units=3)");
  expect_throw_containing<ValueError>(
      [&] {
        rbf.adapt(Tensor({2, 2}), rng);
      },
      "RBF(units=3): k-means initialisation needs at least 3 training samples, got 2");
  expect_throw_containing<ShapeError>([&] { rbf.adapt(Tensor({5, 3}), rng); }, "RBF(units=3)");
  expect_throw_containing<ValueError>([&] { rbf.backward(Tensor({1, 3})); }, "RBF(units=3)");
  rbf.forward(Tensor({1, 2}), Mode::Train);
  expect_throw_containing<ShapeError>([&] { rbf.backward(Tensor({1, 2})); }, "RBF(units=3)");
}

}  // namespace
}  // namespace nnkit
