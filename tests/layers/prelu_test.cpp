#include "nnkit/layers/prelu.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

using testing::expect_layer_gradients;
using testing::random_tensor;

// Inputs at least 0.1 from the kink at 0, farther than the finite-difference step.
Tensor nudged_input(const Shape& shape, Rng& rng) {
  Tensor x = random_tensor(shape, rng, -2.0f, 2.0f);
  for (float& v : x) {
    if (std::fabs(v) < 0.1f) v = v < 0 ? -0.1f : 0.1f;
  }
  return x;
}

TEST(PReLU, StartsAsReluWithOneAlphaPerElement) {
  Rng rng(61);
  PReLU prelu;
  EXPECT_EQ(prelu.build({2, 3}, rng), (Shape{2, 3}));
  ASSERT_EQ(prelu.params().size(), 1u);
  EXPECT_EQ(prelu.params()[0]->name, "weight");
  EXPECT_EQ(prelu.params()[0]->value.shape(), (Shape{2, 3}));
  Tensor y = prelu.forward(Tensor({1, 2, 3}, {-1, 2, -3, 4, -5, 6}), Mode::Infer);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 2, 0, 4, 0, 6}));
}

TEST(PReLU, BackwardMatchesFiniteDifferences) {
  Rng rng(62);
  PReLU prelu({.alpha_initializer = {.name = "uniform", .minval = 0.1f, .maxval = 0.5f}});
  prelu.build({3, 4}, rng);
  expect_layer_gradients(prelu, nudged_input({5, 3, 4}, rng));
}

TEST(PReLU, SharedAxesGiveOneAlphaPerChannel) {
  Rng rng(63);
  PReLU prelu({.shared_axes = {2, 3}, .alpha_initializer = {.name = "constant", .value = 0.25f}});
  prelu.build({2, 3, 3}, rng);
  Tensor& alpha = prelu.params()[0]->value;
  ASSERT_EQ(alpha.shape(), (Shape{2, 1, 1}));
  alpha[1] = 0.5f;
  Tensor y = prelu.forward(Tensor({1, 2, 3, 3}, -1.0f), Mode::Infer);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(y[i], -0.25f);
  for (int i = 9; i < 18; ++i) EXPECT_EQ(y[i], -0.5f);
  expect_layer_gradients(prelu, nudged_input({2, 2, 3, 3}, rng));
}

TEST(PReLU, SharedMiddleAxisBackwardMatchesFiniteDifferences) {
  Rng rng(64);
  PReLU prelu({.shared_axes = {-2},
               .alpha_initializer = {.name = "uniform", .minval = -0.5f, .maxval = 0.5f}});
  prelu.build({2, 3, 4}, rng);
  ASSERT_EQ(prelu.params()[0]->value.shape(), (Shape{2, 1, 4}));
  expect_layer_gradients(prelu, nudged_input({2, 2, 3, 4}, rng));
}

TEST(PReLU, RejectsTheBatchAsASharedAxis) {
  Rng rng(65);
  PReLU prelu({.shared_axes = {0}});
  try {
    prelu.build({3}, rng);
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("shared axis 0 is not a non-batch axis of input [N, 3]"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace nnkit
