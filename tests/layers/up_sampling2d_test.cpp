#include "nnkit/layers/up_sampling2d.h"

#include <gtest/gtest.h>

#include <vector>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers/registry.h"
#include "test_util.h"

namespace nnkit {
namespace {

using nlohmann::json;
using testing::expect_throw_containing;

TEST(UpSampling2D, RepeatsRowsAndColumns) {
  Rng rng(901);
  UpSampling2D up({.size = {2, 3}});
  EXPECT_EQ(up.build({2, 1, 2}, rng), (Shape{2, 2, 6}));
  Tensor y = up.forward(Tensor({1, 2, 1, 2}, {1, 2, 3, 4}), Mode::Infer);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 6}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,  //
                                               3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  // Each input pixel receives the sum of its 2x3 block.
  Tensor dy({1, 2, 2, 6});
  for (int i = 0; i < 24; ++i) dy[i] = static_cast<float>(i);
  // Block of pixel (0, 0, 0): 0 + 1 + 2 + 6 + 7 + 8 = 24; (0, 0, 1): 3 + 4 + 5 + 9 + 10 + 11.
  EXPECT_EQ(up.backward(dy).to_vector(), (std::vector<float>{24, 42, 96, 114}));
}

TEST(UpSampling2D, ReadsKerasArgumentsAndRoundTrips) {
  Rng rng(902);
  std::unique_ptr<Layer> by_default = make_layer({{"type", "UpSampling2D"}});
  EXPECT_EQ(by_default->build({3, 7, 5}, rng), (Shape{3, 14, 10}));
  std::unique_ptr<Layer> one = make_layer({{"type", "UpSampling2D"}, {"size", 3}});
  EXPECT_EQ(one->build({1, 2, 4}, rng), (Shape{1, 6, 12}));
  std::unique_ptr<Layer> pair = make_layer({{"type", "UpSampling2D"}, {"size", {1, 4}}});
  EXPECT_EQ(pair->config(),
            (json{{"type", "UpSampling2D"}, {"size", {1, 4}}, {"interpolation", "nearest"}}));
  EXPECT_EQ(make_layer(pair->config())->config(), pair->config());
}

TEST(UpSampling2D, BackwardMatchesFiniteDifferences) {
  const std::array<int64_t, 2> sizes[] = {{2, 2}, {1, 3}, {3, 2}};
  for (const auto& size : sizes) {
    Rng rng(910);
    UpSampling2D up({.size = size});
    up.build({2, 3, 4}, rng);
    testing::expect_layer_gradients(up, testing::random_tensor({2, 2, 3, 4}, rng));
  }
}

TEST(UpSampling2D, RejectsBadArgumentsAndShapes) {
  expect_throw_containing<ValueError>(
      [] {
        UpSampling2D({.size = {0, 2}});
      },
      "UpSampling2D(size=[0, 2]): size must be positive");
  expect_throw_containing<ValueError>([] { UpSampling2D({.interpolation = "bilinear"}); },
                                      "interpolation must be 'nearest', got 'bilinear'");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "UpSampling2D"}, {"factor", 2}});
      },
      "factor");
  Rng rng(920);
  UpSampling2D up;
  expect_throw_containing<ShapeError>(
      [&] {
        up.build({4, 4}, rng);
      },
      "expected images [N, C, H, W]");
  up.build({1, 2, 2}, rng);
  expect_throw_containing<ShapeError>(
      [&] {
        up.forward(Tensor({2, 1, 3, 2}), Mode::Infer);
      },
      "UpSampling2D");
}

}  // namespace
}  // namespace nnkit
