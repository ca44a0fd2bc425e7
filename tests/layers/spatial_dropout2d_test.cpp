#include "nnkit/layers/spatial_dropout2d.h"

#include <gtest/gtest.h>

#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers/registry.h"

namespace nnkit {
namespace {

using nlohmann::json;
using testing::random_tensor;

TEST(SpatialDropout2D, DropsWholeChannelsAndScalesTheRest) {
  Rng rng(901);
  SpatialDropout2D dropout({.rate = 0.3f});
  EXPECT_EQ(dropout.build({100, 3, 4}, rng), (Shape{100, 3, 4}));
  Tensor y = dropout.forward(Tensor({20, 100, 3, 4}, 1.0f), Mode::Train);
  const float scale = 1.0f / (1.0f - 0.3f);
  int kept = 0;
  for (int64_t plane = 0; plane < 20 * 100; ++plane) {
    const float first = y[plane * 12];
    ASSERT_TRUE(first == 0.0f || first == scale) << first;
    for (int64_t i = 1; i < 12; ++i) ASSERT_EQ(y[plane * 12 + i], first) << "plane " << plane;
    kept += first != 0.0f;
  }
  // 2000 Bernoulli(0.7) draws: mean 1400, standard deviation 20.5; 4 deviations either side.
  EXPECT_GT(kept, 1400 - 82);
  EXPECT_LT(kept, 1400 + 82);
}

TEST(SpatialDropout2D, IsTheIdentityAtInference) {
  Rng rng(902);
  SpatialDropout2D dropout({.rate = 0.5f});
  dropout.build({4, 3, 3}, rng);
  Tensor x = random_tensor({2, 4, 3, 3}, rng);
  EXPECT_EQ(dropout.forward(x, Mode::Infer).to_vector(), x.to_vector());
}

TEST(SpatialDropout2D, BackwardAppliesTheForwardMask) {
  Rng rng(903);
  SpatialDropout2D dropout({.rate = 0.5f});
  dropout.build({8, 2, 2}, rng);
  Tensor y = dropout.forward(Tensor({3, 8, 2, 2}, 1.0f), Mode::Train);
  Tensor dx = dropout.backward(Tensor({3, 8, 2, 2}, 3.0f));
  for (int64_t i = 0; i < y.size(); ++i) EXPECT_EQ(dx[i], 3.0f * y[i]);
}

TEST(SpatialDropout2D, DrawsNewMasksPerBatchDeterminedByTheSeed) {
  Rng rng_a(904), rng_b(904);
  SpatialDropout2D a({.rate = 0.5f}), b({.rate = 0.5f});
  a.build({20, 2, 2}, rng_a);
  b.build({20, 2, 2}, rng_b);
  Tensor x({2, 20, 2, 2}, 1.0f);
  Tensor first = a.forward(x, Mode::Train), second = a.forward(x, Mode::Train);
  EXPECT_NE(first.to_vector(), second.to_vector());
  EXPECT_EQ(b.forward(x, Mode::Train).to_vector(), first.to_vector());
  EXPECT_EQ(b.forward(x, Mode::Train).to_vector(), second.to_vector());
}

// As Dropout's check: the forward rebuilds the layer from the same seed, which restarts its
// mask sequence, so every forward of the finite differences uses the same mask.
TEST(SpatialDropout2D, BackwardMatchesFiniteDifferences) {
  Rng rng(905);
  SpatialDropout2D dropout({.rate = 0.4f});
  Tensor x = random_tensor({3, 4, 2, 3}, rng);
  auto forward = [&](const Tensor& input) {
    Rng seeded(906);
    dropout.build({4, 2, 3}, seeded);
    return dropout.forward(input, Mode::Train);
  };
  Tensor y = forward(x);
  int dropped = 0;
  for (int64_t plane = 0; plane < 12; ++plane) dropped += y[plane * 6] == 0.0f;
  ASSERT_GT(dropped, 0) << "the check should cover dropped channels";
  ASSERT_LT(dropped, 12) << "the check should cover kept channels";
  testing::expect_gradients(
      forward, [&](const Tensor& dy) { return dropout.backward(dy); }, x, dropout.params());
}

TEST(SpatialDropout2D, ConfigRoundTripsAndBadArgumentsThrow) {
  std::unique_ptr<Layer> layer = make_layer({{"type", "SpatialDropout2D"}, {"rate", 0.25}});
  EXPECT_EQ(layer->config(), (json{{"type", "SpatialDropout2D"}, {"rate", 0.25}}));
  EXPECT_EQ(make_layer(layer->config())->config(), layer->config());
  EXPECT_THROW(SpatialDropout2D({.rate = 1.0f}), ValueError);
  EXPECT_THROW(SpatialDropout2D({.rate = -0.1f}), ValueError);
  EXPECT_NO_THROW(SpatialDropout2D({.rate = 0.0f}));
  try {
    make_layer({{"type", "SpatialDropout2D"}});
    ADD_FAILURE() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_EQ(std::string(e.what()), "SpatialDropout2D: missing required argument 'rate'");
  }
  Rng rng(907);
  SpatialDropout2D dropout({.rate = 0.5f});
  try {
    dropout.build({16}, rng);
    ADD_FAILURE() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "SpatialDropout2D(rate=0.5): expected images [N, C, H, W] (channels first), got "
              "input [N, 16]; use Dropout for other shapes");
  }
  dropout.build({2, 2, 2}, rng);
  dropout.forward(Tensor({1, 2, 2, 2}), Mode::Infer);
  EXPECT_THROW(dropout.backward(Tensor({1, 2, 2, 2})), ValueError);
}

}  // namespace
}  // namespace nnkit
