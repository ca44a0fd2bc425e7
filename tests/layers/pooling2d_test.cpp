#include "nnkit/layers/pooling2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
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

TEST(MaxPooling2D, TakesTheMaximumOfEachWindow) {
  Rng rng(601);
  MaxPooling2D pool;
  EXPECT_EQ(pool.build({1, 4, 4}, rng), (Shape{1, 2, 2}));
  Tensor x({1, 1, 4, 4}, {1, 5, 2, 0,  //
                          3, 4, 8, 1,  //
                          0, 0, 1, 1,  //
                          9, 0, 1, 7});
  Tensor y = pool.forward(x, Mode::Train);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{5, 8, 9, 7}));
  Tensor dx = pool.backward(Tensor({1, 1, 2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 4}));
  EXPECT_EQ(pool.forward(x, Mode::Infer).to_vector(), y.to_vector());
}

TEST(MaxPooling2D, OutputShapesFollowKerasRules) {
  Rng rng(602);
  // valid: floor((in − pool) / stride) + 1; same: ceil(in / stride).
  EXPECT_EQ(MaxPooling2D({.pool_size = {2, 2}}).build({3, 5, 7}, rng), (Shape{3, 2, 3}));
  EXPECT_EQ(MaxPooling2D({.pool_size = {2, 2}, .padding = "same"}).build({3, 5, 7}, rng),
            (Shape{3, 3, 4}));
  EXPECT_EQ(MaxPooling2D({.pool_size = {3, 3}, .strides = {{2, 2}}}).build({1, 7, 8}, rng),
            (Shape{1, 3, 3}));
  EXPECT_EQ(MaxPooling2D({.pool_size = {3, 1}, .strides = {{1, 1}}, .padding = "same"})
                .build({2, 5, 4}, rng),
            (Shape{2, 5, 4}));
  EXPECT_EQ(MaxPooling2D({.pool_size = {2, 3}, .strides = {{1, 2}}}).build({1, 6, 9}, rng),
            (Shape{1, 5, 4}));
}

struct PoolCase {
  const char* name;
  std::array<int64_t, 2> pool_size, strides;
  const char* padding;
  Shape input;  // [C, H, W]

  Pooling2DOptions options() const {
    return {.pool_size = pool_size, .strides = strides, .padding = padding};
  }
};

// The variants of the issue: pool 2 and 3, strides different from the pool, overlapping
// windows, same padding on odd sizes, rectangular pools.
std::vector<PoolCase> pool_cases() {
  return {
      {"pool2", {2, 2}, {2, 2}, "valid", {2, 4, 6}},
      {"pool3", {3, 3}, {3, 3}, "valid", {2, 6, 9}},
      {"pool3_stride2_overlapping", {3, 3}, {2, 2}, "valid", {2, 7, 7}},
      {"pool2_stride1_overlapping", {2, 2}, {1, 1}, "valid", {1, 4, 5}},
      {"pool2_stride3_gaps", {2, 2}, {3, 3}, "valid", {2, 8, 7}},
      {"same_odd", {2, 2}, {2, 2}, "same", {2, 5, 7}},
      {"same_pool3_stride1", {3, 3}, {1, 1}, "same", {1, 5, 4}},
      {"same_pool3_stride2_odd", {3, 3}, {2, 2}, "same", {2, 7, 5}},
      {"rectangular", {2, 3}, {2, 3}, "valid", {2, 6, 7}},
      {"rectangular_same_strides", {3, 2}, {2, 1}, "same", {2, 5, 6}},
  };
}

TEST(MaxPooling2D, BackwardMatchesFiniteDifferences) {
  uint64_t seed = 610;
  for (const PoolCase& c : pool_cases()) {
    SCOPED_TRACE(c.name);
    Rng rng(seed);
    MaxPooling2D pool(c.options());
    pool.build(c.input, rng);
    Shape x_shape = c.input;
    x_shape.insert(x_shape.begin(), 2);
    expect_layer_gradients(pool, distinct_tensor(x_shape, seed++));
  }
}

TEST(AveragePooling2D, BackwardMatchesFiniteDifferences) {
  uint64_t seed = 620;
  for (const PoolCase& c : pool_cases()) {
    SCOPED_TRACE(c.name);
    Rng rng(seed++);
    AveragePooling2D pool(c.options());
    pool.build(c.input, rng);
    Shape x_shape = c.input;
    x_shape.insert(x_shape.begin(), 2);
    expect_layer_gradients(pool, testing::random_tensor(x_shape, rng));
  }
}

TEST(MaxPooling2D, SamePaddingNeverChoosesThePadding) {
  // All inputs negative: a zero-padded max would return 0 at the borders, −inf padding never wins.
  Rng rng(630);
  MaxPooling2D pool({.pool_size = {3, 3}, .strides = {{2, 2}}, .padding = "same"});
  EXPECT_EQ(pool.build({2, 5, 6}, rng), (Shape{2, 3, 3}));
  Tensor x = testing::random_tensor({3, 2, 5, 6}, rng, -2.0f, -1.0f);
  Tensor y = pool.forward(x, Mode::Train);
  for (float v : y) {
    EXPECT_TRUE(std::find(x.begin(), x.end(), v) != x.end()) << v << " is not an input value";
  }
  // Every dy lands on a real cell: nothing is lost to the padding.
  Tensor dy(y.shape(), 1.0f);
  Tensor dx = pool.backward(dy);
  EXPECT_EQ(std::accumulate(dx.begin(), dx.end(), 0.0f), static_cast<float>(dy.size()));
}

TEST(MaxPooling2D, SendsTheGradientOfTiesToTheFirstMaximum) {
  Rng rng(631);
  MaxPooling2D pool({.pool_size = {2, 2}, .strides = {{1, 1}}});
  pool.build({1, 2, 3}, rng);
  pool.forward(Tensor({1, 1, 2, 3}, 1.0f), Mode::Train);
  Tensor dx = pool.backward(Tensor({1, 1, 1, 2}, {1, 10}));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{1, 10, 0, 0, 0, 0}));
}

TEST(AveragePooling2D, SamePaddingDividesByTheRealCells) {
  Rng rng(640);
  // 3x3, pool 2 stride 2 same: windows rows {0,1},{2} × columns {0,1},{2} (padding after).
  AveragePooling2D pool({.pool_size = {2, 2}, .padding = "same"});
  EXPECT_EQ(pool.build({1, 3, 3}, rng), (Shape{1, 2, 2}));
  Tensor x({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_EQ(pool.forward(x, Mode::Train).to_vector(),
            (std::vector<float>{(1 + 2 + 4 + 5) / 4.0f, (3 + 6) / 2.0f, (7 + 8) / 2.0f, 9}));
  Tensor dx = pool.backward(Tensor({1, 1, 2, 2}, {4, 2, 2, 1}));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{1, 1, 1, 1, 1, 1, 1, 1, 1}));

  // Stride 1 on 2x2: total padding 1 per axis, all of it after (bottom/right), so the last
  // window holds a single real cell.
  AveragePooling2D overlap({.pool_size = {2, 2}, .strides = {{1, 1}}, .padding = "same"});
  overlap.build({1, 2, 2}, rng);
  EXPECT_EQ(overlap.forward(Tensor({1, 1, 2, 2}, {1, 2, 3, 4}), Mode::Infer).to_vector(),
            (std::vector<float>{2.5f, 3, 3.5f, 4}));

  // Pool 3 stride 1 on 3x3: one cell of padding on every side; the corner windows hold 4 cells.
  AveragePooling2D centred({.pool_size = {3, 3}, .strides = {{1, 1}}, .padding = "same"});
  centred.build({1, 3, 3}, rng);
  Tensor y = centred.forward(x, Mode::Infer);
  EXPECT_FLOAT_EQ(y[0], (1 + 2 + 4 + 5) / 4.0f);
  EXPECT_FLOAT_EQ(y[1], (1 + 2 + 3 + 4 + 5 + 6) / 6.0f);
  EXPECT_FLOAT_EQ(y[4], 5.0f);
  EXPECT_FLOAT_EQ(y[8], (5 + 6 + 8 + 9) / 4.0f);
}

TEST(Pooling2D, ReadsKerasConfigsAndWritesPairs) {
  std::unique_ptr<Layer> max = make_layer({{"type", "MaxPooling2D"}, {"pool_size", 3}});
  EXPECT_EQ(max->config(), (json{{"type", "MaxPooling2D"},
                                 {"pool_size", {3, 3}},
                                 {"strides", {3, 3}},  // null: the pool size, as Keras
                                 {"padding", "valid"}}));
  std::unique_ptr<Layer> avg = make_layer(
      {{"type", "AveragePooling2D"}, {"pool_size", {2, 3}}, {"strides", 1}, {"padding", "Same"}});
  EXPECT_EQ(avg->config(), (json{{"type", "AveragePooling2D"},
                                 {"pool_size", {2, 3}},
                                 {"strides", {1, 1}},
                                 {"padding", "same"}}));
  EXPECT_EQ(make_layer(avg->config())->config(), avg->config());
  EXPECT_EQ(make_layer({{"type", "MaxPooling2D"}, {"strides", nullptr}})->config()["strides"],
            (json{2, 2}));
  Rng rng(650);
  EXPECT_EQ(avg->build({4, 5, 5}, rng), (Shape{4, 5, 5}));
}

TEST(Pooling2D, RejectsBadArgumentsWithClearMessages) {
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "MaxPooling2D"}, {"padding", "full"}});
      },
      "MaxPooling2D: padding must be \"valid\" or \"same\", got \"full\"");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "AveragePooling2D"}, {"pool_size", {2, 2, 2}}});
      },
      "AveragePooling2D: argument 'pool_size' must be an integer or a list of two integers "
      "[height, width], got [2,2,2]");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "MaxPooling2D"}, {"strides", "2"}});
      },
      "MaxPooling2D: argument 'strides' must be an integer or a list of two integers [height, "
      "width], got \"2\"");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "MaxPooling2D"}, {"pool_size", 0}});
      },
      "MaxPooling2D: pool_size must be positive, got [0, 0]");
  expect_throw_containing<ValueError>(
      [] {
        MaxPooling2D({.strides = {{1, -1}}});
      },
      "MaxPooling2D: strides must be positive, got [1, -1]");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "MaxPooling2D"}, {"pool_sizes", 2}});
      },
      "MaxPooling2D: unknown argument 'pool_sizes'; did you mean 'pool_size'?");
}

TEST(Pooling2D, RejectsInputsItCannotPool) {
  Rng rng(660);
  MaxPooling2D big({.pool_size = {3, 3}});
  expect_throw_containing<ShapeError>(
      [&] {
        big.build({4, 2, 5}, rng);
      },
      "MaxPooling2D(pool_size=[3, 3], strides=[3, 3], padding=valid): the 3x3 pool does not fit "
      "in the 2x5 images of input [N, 4, 2, 5] with padding \"valid\"; use padding \"same\" or a "
      "smaller pool_size");
  // The same pool with same padding fits: one output row.
  EXPECT_EQ(MaxPooling2D({.pool_size = {3, 3}, .padding = "same"}).build({4, 2, 5}, rng),
            (Shape{4, 1, 2}));
  AveragePooling2D avg;
  expect_throw_containing<ShapeError>(
      [&] { avg.build({784}, rng); },
      "AveragePooling2D(pool_size=[2, 2], strides=[2, 2], padding=valid): expected images "
      "[N, C, H, W] (channels first), got input [N, 784]");
  expect_throw_containing<ShapeError>(
      [&] {
        avg.build({1, 28, 28, 1}, rng);
      },
      "got input [N, 1, 28, 28, 1]");
  avg.build({1, 4, 4}, rng);
  expect_throw_containing<ShapeError>(
      [&] {
        avg.forward(Tensor({2, 4, 4}), Mode::Infer);
      },
      "expected input [N, 1, 4, 4], got [2, 4, 4]");
  MaxPooling2D max;
  max.build({1, 4, 4}, rng);
  max.forward(Tensor({2, 1, 4, 4}), Mode::Infer);
  expect_throw_containing<ValueError>(
      [&] {
        max.backward(Tensor({2, 1, 2, 2}));
      },
      "needs a forward(x, Mode::Train) first");
  max.forward(Tensor({2, 1, 4, 4}), Mode::Train);
  expect_throw_containing<ShapeError>(
      [&] {
        max.backward(Tensor({3, 1, 2, 2}));
      },
      "backward expected a gradient of shape [2, 1, 2, 2]");
}

}  // namespace
}  // namespace nnkit
