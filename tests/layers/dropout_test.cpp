#include "nnkit/layers/dropout.h"

#include <gtest/gtest.h>

#include "gradient_check.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

using testing::random_tensor;

TEST(Dropout, IsTheIdentityAtInference) {
  Rng rng(31);
  Dropout dropout({.rate = 0.5f});
  EXPECT_EQ(dropout.build({4, 5}, rng), (Shape{4, 5}));
  Tensor x = random_tensor({3, 4, 5}, rng);
  EXPECT_EQ(dropout.forward(x, Mode::Infer).to_vector(), x.to_vector());
}

TEST(Dropout, KeepsAboutOneMinusRateOfUnitsScaledUp) {
  Rng rng(32);
  Dropout dropout({.rate = 0.3f});
  dropout.build({100}, rng);
  Tensor y = dropout.forward(Tensor({100, 100}, 1.0f), Mode::Train);
  const float scale = 1.0f / (1.0f - 0.3f);
  int kept = 0;
  for (float v : y) {
    if (v != 0.0f) {
      ++kept;
      ASSERT_EQ(v, scale);
    }
  }
  // 10000 Bernoulli(0.7) draws: mean 7000, standard deviation 46; 4 deviations either side.
  EXPECT_GT(kept, 7000 - 184);
  EXPECT_LT(kept, 7000 + 184);
}

TEST(Dropout, DrawsNewMasksPerBatchDeterminedByTheSeed) {
  Rng rng_a(33), rng_b(33);
  Dropout a({.rate = 0.5f}), b({.rate = 0.5f});
  a.build({50}, rng_a);
  b.build({50}, rng_b);
  Tensor x({2, 50}, 1.0f);
  Tensor first = a.forward(x, Mode::Train), second = a.forward(x, Mode::Train);
  EXPECT_NE(first.to_vector(), second.to_vector());
  EXPECT_EQ(b.forward(x, Mode::Train).to_vector(), first.to_vector());
  EXPECT_EQ(b.forward(x, Mode::Train).to_vector(), second.to_vector());
}

// Finite differences need the same mask in every forward: the forward here rebuilds the layer
// from the same seed first, which restarts its mask sequence (build() splits the mask
// generator off the rng it is given).
TEST(Dropout, BackwardMatchesFiniteDifferences) {
  Rng rng(34);
  Dropout dropout({.rate = 0.3f});
  Tensor x = random_tensor({4, 6}, rng);
  auto forward = [&](const Tensor& input) {
    Rng seeded(35);
    dropout.build({6}, seeded);
    return dropout.forward(input, Mode::Train);
  };
  Tensor y = forward(x);
  int dropped = 0;
  for (float v : y) dropped += v == 0.0f;
  ASSERT_GT(dropped, 0) << "the check should cover dropped units";
  testing::expect_gradients(
      forward, [&](const Tensor& dy) { return dropout.backward(dy); }, x, dropout.params());
}

TEST(Dropout, BackwardAppliesTheForwardMask) {
  Rng rng(36);
  Dropout dropout({.rate = 0.5f});
  dropout.build({8}, rng);
  Tensor y = dropout.forward(Tensor({1, 8}, 1.0f), Mode::Train);
  Tensor dx = dropout.backward(Tensor({1, 8}, 3.0f));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(dx[i], 3.0f * y[i]);
}

TEST(Dropout, RejectsRatesOutsideZeroToOne) {
  EXPECT_THROW(Dropout({.rate = 1.0f}), ValueError);
  EXPECT_THROW(Dropout({.rate = -0.1f}), ValueError);
  EXPECT_NO_THROW(Dropout({.rate = 0.0f}));
  EXPECT_THROW(Dropout::from_config({{"type", "Dropout"}}), ValueError);  // rate is required
}

}  // namespace
}  // namespace nnkit
