#include "nnkit/layers/global_pooling2d.h"

#include <gtest/gtest.h>

#include <numeric>
#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers/registry.h"
#include "test_util.h"

namespace nnkit {
namespace {

using nlohmann::json;
using testing::distinct_tensor;
using testing::expect_layer_gradients;
using testing::expect_throw_containing;

TEST(GlobalAveragePooling2D, AveragesEachChannel) {
  Rng rng(701);
  GlobalAveragePooling2D pool;
  EXPECT_EQ(pool.build({2, 2, 2}, rng), (Shape{2}));
  Tensor x({1, 2, 2, 2}, {1, 2, 3, 4, -1, -1, 5, 5});
  EXPECT_EQ(pool.forward(x, Mode::Train).to_vector(), (std::vector<float>{2.5f, 2}));
  Tensor dx = pool.backward(Tensor({1, 2}, {4, 8}));
  EXPECT_EQ(dx.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2}));
}

TEST(GlobalMaxPooling2D, TakesEachChannelsMaximumAndKeepsDimsOnRequest) {
  Rng rng(702);
  GlobalMaxPooling2D pool({.keepdims = true});
  EXPECT_EQ(pool.build({2, 2, 2}, rng), (Shape{2, 1, 1}));
  Tensor x({1, 2, 2, 2}, {1, 7, 3, 7, -4, -3, -2, -5});
  Tensor y = pool.forward(x, Mode::Train);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 1, 1}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{7, -2}));
  // Tied 7s: the first one takes the gradient.
  EXPECT_EQ(pool.backward(Tensor({1, 2, 1, 1}, {3, 4})).to_vector(),
            (std::vector<float>{0, 3, 0, 0, 0, 0, 4, 0}));
  EXPECT_EQ(pool.forward(x, Mode::Infer).to_vector(), y.to_vector());
}

TEST(GlobalPooling2D, BackwardMatchesFiniteDifferences) {
  for (bool keepdims : {false, true}) {
    SCOPED_TRACE(keepdims ? "keepdims" : "flat");
    Rng rng(710);
    GlobalAveragePooling2D avg({.keepdims = keepdims});
    avg.build({3, 4, 5}, rng);
    expect_layer_gradients(avg, testing::random_tensor({2, 3, 4, 5}, rng));
    GlobalMaxPooling2D max({.keepdims = keepdims});
    max.build({3, 4, 5}, rng);
    expect_layer_gradients(max, distinct_tensor({2, 3, 4, 5}, 711));
  }
}

TEST(GlobalPooling2D, ConfigRoundTrips) {
  std::unique_ptr<Layer> avg = make_layer({{"type", "GlobalAveragePooling2D"}});
  EXPECT_EQ(avg->config(), (json{{"type", "GlobalAveragePooling2D"}, {"keepdims", false}}));
  std::unique_ptr<Layer> max = make_layer({{"type", "GlobalMaxPooling2D"}, {"keepdims", true}});
  EXPECT_EQ(max->config(), (json{{"type", "GlobalMaxPooling2D"}, {"keepdims", true}}));
  EXPECT_EQ(make_layer(max->config())->config(), max->config());
}

TEST(GlobalPooling2D, RejectsBadInputsAndArguments) {
  Rng rng(720);
  GlobalMaxPooling2D max;
  expect_throw_containing<ShapeError>(
      [&] { max.build({64}, rng); },
      "GlobalMaxPooling2D(keepdims=false): expected images [N, C, H, W] (channels first), got "
      "input [N, 64]");
  max.build({2, 3, 3}, rng);
  expect_throw_containing<ShapeError>(
      [&] {
        max.forward(Tensor({1, 2, 3}), Mode::Train);
      },
      "expected input [N, 2, 3, 3], got [1, 2, 3]");
  max.forward(Tensor({1, 2, 3, 3}), Mode::Infer);
  expect_throw_containing<ValueError>(
      [&] {
        max.backward(Tensor({1, 2}));
      },
      "needs a forward(x, Mode::Train) first");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "GlobalAveragePooling2D"}, {"keepdims", 1}});
      },
      "GlobalAveragePooling2D: argument 'keepdims' must be true or false, got 1");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "GlobalAveragePooling2D"}, {"keep_dims", true}});
      },
      "unknown argument 'keep_dims'; did you mean 'keepdims'?");
}

}  // namespace
}  // namespace nnkit
