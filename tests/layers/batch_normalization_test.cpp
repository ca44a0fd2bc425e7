#include "nnkit/layers/batch_normalization.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_all_near;
using testing::expect_layer_gradients;
using testing::random_tensor;

// gamma and beta away from their initial 1 and 0, so that a gradient that ignores them fails.
void randomise_affine(BatchNormalization& bn, Rng& rng) {
  for (float& g : bn.params()[0]->value) g = rng.uniform(0.5f, 1.5f);
  for (float& b : bn.params()[1]->value) b = rng.uniform(-0.5f, 0.5f);
}

TEST(BatchNormalization, TrainingBackwardMatchesFiniteDifferencesOnFeatures) {
  Rng rng(41);
  BatchNormalization bn;
  EXPECT_EQ(bn.build({5}, rng), (Shape{5}));
  randomise_affine(bn, rng);
  expect_layer_gradients(bn, random_tensor({6, 5}, rng));
}

TEST(BatchNormalization, TrainingBackwardMatchesFiniteDifferencesOnImages) {
  Rng rng(42);
  BatchNormalization bn;
  bn.build({3, 2, 3}, rng);
  ASSERT_EQ(bn.params()[0]->value.shape(), (Shape{3})) << "channels are axis 1 for (N, C, H, W)";
  randomise_affine(bn, rng);
  expect_layer_gradients(bn, random_tensor({2, 3, 2, 3}, rng));
}

TEST(BatchNormalization, TrainingBackwardMatchesFiniteDifferencesOnLargerImages) {
  // Planes of 20 values: the per-channel path, where the small images above take the row one.
  Rng rng(52);
  BatchNormalization bn;
  bn.build({3, 4, 5}, rng);
  randomise_affine(bn, rng);
  expect_layer_gradients(bn, random_tensor({2, 3, 4, 5}, rng));
}

// Images (N, C, H, W) as rows (N·H·W, C): the same statistics over the features' axis.
Tensor channels_last(const Tensor& x) {
  const int64_t n = x.shape()[0], c = x.shape()[1], hw = x.shape()[2] * x.shape()[3];
  Tensor rows({n * hw, c});
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < c; ++k) {
      for (int64_t j = 0; j < hw; ++j) rows[(i * hw + j) * c + k] = x[(i * c + k) * hw + j];
    }
  }
  return rows;
}

TEST(BatchNormalization, ImagesAgreeWithTheSameValuesAsRows) {
  // Big enough for threads (and channel groups) on the image side; the rows take the other
  // path. Forward in both modes, running statistics, dx and both grads must agree.
  Rng rng(53);
  const Shape image{6, 30, 30};
  BatchNormalization planes({.momentum = 0.8f}), rows({.momentum = 0.8f});
  planes.build(image, rng);
  rows.build({6}, rng);
  randomise_affine(planes, rng);
  for (std::size_t i = 0; i < 2; ++i) rows.params()[i]->value = planes.params()[i]->value;
  Tensor x = random_tensor({40, 6, 30, 30}, rng);
  for (float& v : x) v = 3.0f + 2.0f * v;
  Tensor dy = random_tensor(x.shape(), rng);
  const Tensor y = planes.forward(x, Mode::Train);
  const Tensor y_rows = rows.forward(channels_last(x), Mode::Train);
  expect_all_near(channels_last(y), y_rows, 1e-5);
  planes.zero_grad();
  rows.zero_grad();
  expect_all_near(channels_last(planes.backward(dy)), rows.backward(channels_last(dy)), 1e-5);
  for (std::size_t i = 0; i < 4; ++i) {
    const Param& a = *planes.params()[i];
    const Param& b = *rows.params()[i];
    expect_all_near(a.value, b.value, 1e-5, a.name);
    if (a.trainable) expect_all_near(a.grad, b.grad, 1e-4, a.name + " grad");
  }
  expect_all_near(channels_last(planes.forward(x, Mode::Infer)),
                  rows.forward(channels_last(x), Mode::Infer), 1e-5);
}

TEST(BatchNormalization, TrainingBackwardMatchesFiniteDifferencesOnSequences) {
  Rng rng(43);
  BatchNormalization bn;
  bn.build({4, 3}, rng);
  ASSERT_EQ(bn.params()[0]->value.shape(), (Shape{3})) << "features are the last axis of (N, T, F)";
  randomise_affine(bn, rng);
  expect_layer_gradients(bn, random_tensor({2, 4, 3}, rng));
}

TEST(BatchNormalization, WithoutCenterAndScaleHasOnlyRunningStatistics) {
  Rng rng(44);
  BatchNormalization bn({.center = false, .scale = false});
  bn.build({4}, rng);
  ASSERT_EQ(bn.params().size(), 2u);
  EXPECT_EQ(bn.params()[0]->name, "running_mean");
  EXPECT_EQ(bn.params()[1]->name, "running_var");
  EXPECT_EQ(bn.param_count(true), 0);
  expect_layer_gradients(bn, random_tensor({5, 4}, rng));
}

TEST(BatchNormalization, UpdatesRunningStatisticsWithTheUnbiasedVariance) {
  Rng rng(45);
  BatchNormalization bn;
  bn.build({2}, rng);
  std::vector<Param*> p = bn.params();
  ASSERT_EQ(p[2]->name, "running_mean");
  EXPECT_FALSE(p[2]->trainable);
  EXPECT_TRUE(p[2]->grad.empty());
  // Feature 0: 1, 3, 5: mean 3, biased variance 8/3, unbiased 4.
  // Feature 1: 2, 6, 10: mean 6, biased variance 32/3, unbiased 16.
  Tensor x({3, 2}, {1, 2, 3, 6, 5, 10});
  Tensor y = bn.forward(x, Mode::Train);
  // momentum 0.99 (0.99f: 1 − momentum is 0.01 to 1e-8).
  EXPECT_NEAR(p[2]->value[0], 0.01 * 3.0, 1e-6);
  EXPECT_NEAR(p[2]->value[1], 0.01 * 6.0, 1e-6);
  EXPECT_NEAR(p[3]->value[0], 0.99 * 1.0 + 0.01 * 4.0, 1e-6);
  EXPECT_NEAR(p[3]->value[1], 0.99 * 1.0 + 0.01 * 16.0, 1e-6);
  // The batch itself is normalised with the biased variance.
  EXPECT_FLOAT_EQ(y[0], (1.0f - 3.0f) / std::sqrt(8.0f / 3.0f + 1e-3f));
  EXPECT_FLOAT_EQ(y[5], (10.0f - 6.0f) / std::sqrt(32.0f / 3.0f + 1e-3f));
}

TEST(BatchNormalization, InferenceUsesTheRunningStatistics) {
  Rng rng(46);
  BatchNormalization bn({.epsilon = 0.01f});
  bn.build({2, 1, 1}, rng);
  std::vector<Param*> p = bn.params();
  p[0]->value = Tensor({2}, {2.0f, 0.5f});   // gamma
  p[1]->value = Tensor({2}, {1.0f, -1.0f});  // beta
  p[2]->value = Tensor({2}, {3.0f, -2.0f});  // running mean
  p[3]->value = Tensor({2}, {4.0f, 0.25f});  // running variance
  Tensor y = bn.forward(Tensor({2, 2, 1, 1}, {5, 0, 3, -2}), Mode::Infer);
  EXPECT_FLOAT_EQ(y[0], 2.0f * (5 - 3) / std::sqrt(4.01f) + 1.0f);
  EXPECT_FLOAT_EQ(y[1], 0.5f * (0 + 2) / std::sqrt(0.26f) - 1.0f);
  EXPECT_FLOAT_EQ(y[2], 1.0f);
  EXPECT_FLOAT_EQ(y[3], -1.0f);
  EXPECT_FLOAT_EQ(p[2]->value[0], 3.0f) << "inference must not move the running statistics";
}

TEST(BatchNormalization, BackwardAfterInferenceIsTheFrozenAffineMap) {
  Rng rng(47);
  BatchNormalization bn;
  bn.build({3}, rng);
  randomise_affine(bn, rng);
  for (float& v : bn.params()[3]->value) v = rng.uniform(0.5f, 2.0f);
  bn.zero_grad();
  testing::expect_gradients([&](const Tensor& x) { return bn.forward(x, Mode::Infer); },
                            [&](const Tensor& dy) { return bn.backward(dy); },
                            random_tensor({4, 3}, rng), {});
  for (float g : bn.params()[0]->grad) EXPECT_EQ(g, 0.0f);
}

TEST(BatchNormalization, HonoursAnExplicitAxis) {
  Rng rng(48);
  BatchNormalization bn({.axis = -1});
  bn.build({3, 2, 5}, rng);
  EXPECT_EQ(bn.params()[0]->value.shape(), (Shape{5}));
  randomise_affine(bn, rng);
  expect_layer_gradients(bn, random_tensor({2, 3, 2, 5}, rng));
  BatchNormalization middle({.axis = 2});
  middle.build({3, 4, 5}, rng);
  EXPECT_EQ(middle.params()[0]->value.shape(), (Shape{4}));
}

TEST(BatchNormalization, RejectsBadArguments) {
  Rng rng(49);
  EXPECT_THROW(BatchNormalization({.momentum = 1.5f}), ValueError);
  EXPECT_THROW(BatchNormalization({.epsilon = 0.0f}), ValueError);
  BatchNormalization batch_axis({.axis = 0});
  try {
    batch_axis.build({3}, rng);
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("BatchNormalization(axis=0): axis must name a non-batch"),
              std::string::npos)
        << e.what();
  }
  BatchNormalization bn;
  bn.build({3}, rng);
  EXPECT_THROW(bn.forward(Tensor({2, 4}), Mode::Train), ShapeError);
  EXPECT_THROW(bn.backward(Tensor({2, 3})), ValueError);
}

}  // namespace
}  // namespace nnkit
