#include "nnkit/layers/zero_padding2d.h"

#include <gtest/gtest.h>

#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers/registry.h"
#include "test_util.h"

namespace nnkit {
namespace {

using nlohmann::json;
using testing::expect_throw_containing;

TEST(ZeroPadding2D, PadsEachChannelWithZeros) {
  Rng rng(801);
  ZeroPadding2D pad({.top = 1, .bottom = 0, .left = 0, .right = 2});
  EXPECT_EQ(pad.build({2, 1, 2}, rng), (Shape{2, 2, 4}));
  Tensor y = pad.forward(Tensor({1, 2, 1, 2}, {1, 2, 3, 4}), Mode::Infer);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 4}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4, 0, 0}));
  Tensor dy({1, 2, 2, 4});
  for (int i = 0; i < 16; ++i) dy[i] = static_cast<float>(i);
  EXPECT_EQ(pad.backward(dy).to_vector(), (std::vector<float>{4, 5, 12, 13}));
}

TEST(ZeroPadding2D, ReadsAllThreeKerasForms) {
  Rng rng(802);
  const Shape input = {3, 5, 6};
  // Default 1; an integer for every side; [rows, columns]; [[top, bottom], [left, right]].
  EXPECT_EQ(make_layer({{"type", "ZeroPadding2D"}})->build(input, rng), (Shape{3, 7, 8}));
  std::unique_ptr<Layer> one = make_layer({{"type", "ZeroPadding2D"}, {"padding", 2}});
  EXPECT_EQ(one->config()["padding"], (json{{2, 2}, {2, 2}}));
  EXPECT_EQ(one->build(input, rng), (Shape{3, 9, 10}));
  std::unique_ptr<Layer> pair = make_layer({{"type", "ZeroPadding2D"}, {"padding", {1, 3}}});
  EXPECT_EQ(pair->config()["padding"], (json{{1, 1}, {3, 3}}));
  EXPECT_EQ(pair->build(input, rng), (Shape{3, 7, 12}));
  std::unique_ptr<Layer> full =
      make_layer({{"type", "ZeroPadding2D"}, {"padding", {{0, 2}, {1, 0}}}});
  EXPECT_EQ(full->config(), (json{{"type", "ZeroPadding2D"}, {"padding", {{0, 2}, {1, 0}}}}));
  EXPECT_EQ(full->build(input, rng), (Shape{3, 7, 7}));
  EXPECT_EQ(make_layer(full->config())->config(), full->config());
  // The asymmetric form puts the image where it says: row 0 holds the image's first row.
  Tensor x = testing::random_tensor({1, 3, 5, 6}, rng);
  Tensor y = full->forward(x, Mode::Infer);
  EXPECT_EQ(y[0], 0.0f);          // left column
  EXPECT_EQ(y[1], x[0]);          // image row 0 starts at column 1
  EXPECT_EQ(y[5 * 7 + 6], 0.0f);  // bottom rows are zeros
}

TEST(ZeroPadding2D, BackwardMatchesFiniteDifferences) {
  const ZeroPadding2DOptions variants[] = {{1, 1, 1, 1}, {0, 2, 3, 0}, {2, 1, 0, 1}};
  for (const ZeroPadding2DOptions& o : variants) {
    Rng rng(810);
    ZeroPadding2D pad(o);
    pad.build({2, 3, 4}, rng);
    testing::expect_layer_gradients(pad, testing::random_tensor({2, 2, 3, 4}, rng));
  }
}

TEST(ZeroPadding2D, RejectsBadPaddingFormsAndShapes) {
  const std::string forms =
      "ZeroPadding2D: argument 'padding' must be an integer, a pair [rows, columns] or "
      "[[top, bottom], [left, right]], got ";
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "ZeroPadding2D"}, {"padding", {1, 2, 3}}});
      },
      forms + "[1,2,3]");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "ZeroPadding2D"}, {"padding", {{1, 2}, {3}}}});
      },
      forms + "[[1,2],[3]]");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "ZeroPadding2D"}, {"padding", {{1, 2}, 3}}});
      },
      forms + "[[1,2],3]");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "ZeroPadding2D"}, {"padding", "same"}});
      },
      forms + "\"same\"");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "ZeroPadding2D"}, {"padding", 1.5}});
      },
      forms + "1.5");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "ZeroPadding2D"}, {"padding", -1}});
      },
      "ZeroPadding2D(padding=[[-1, -1], [-1, -1]]): padding must not be negative");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "ZeroPadding2D"}, {"pading", 1}});
      },
      "ZeroPadding2D: unknown argument 'pading'; did you mean 'padding'?");
  Rng rng(820);
  ZeroPadding2D pad;
  expect_throw_containing<ShapeError>(
      [&] {
        pad.build({28, 28}, rng);
      },
      "ZeroPadding2D(padding=[[1, 1], [1, 1]]): expected images [N, C, H, W] (channels first), "
      "got input [N, 28, 28]");
  pad.build({1, 2, 2}, rng);
  expect_throw_containing<ShapeError>(
      [&] {
        pad.backward(Tensor({1, 1, 2, 2}));
      },
      "expected input [N, 1, 4, 4], got [1, 1, 2, 2]");
}

}  // namespace
}  // namespace nnkit
