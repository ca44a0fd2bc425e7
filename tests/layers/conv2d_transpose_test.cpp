#include "nnkit/layers/conv2d_transpose.h"

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

// One input channel [1, 2], one output channel, kernel [[1, 2], [3, 4]]: each input pixel
// stamps a scaled copy of the kernel onto the output, strides apart; overlaps add.
TEST(Conv2DTranspose, StampsTheKernelByHand) {
  Rng rng(1);
  Conv2DTranspose up({.filters = 1, .kernel_size = {2, 2}, .strides = {2, 2}, .use_bias = false});
  EXPECT_EQ(up.build({1, 1, 2}, rng), (Shape{1, 2, 4}));
  up.params()[0]->value = Tensor({1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(up.forward(Tensor({1, 1, 1, 2}, {1, 2}), Mode::Infer).to_vector(),
            (std::vector<float>{1, 2, 2, 4, 3, 4, 6, 8}));
  // Stride 1: the stamps overlap in the middle column: [1, 2 + 2, 4], [3, 4 + 6, 8]; bias 0.5.
  Conv2DTranspose dense({.filters = 1, .kernel_size = {2, 2}});
  EXPECT_EQ(dense.build({1, 1, 2}, rng), (Shape{1, 2, 3}));
  dense.params()[0]->value = Tensor({1, 1, 2, 2}, {1, 2, 3, 4});
  dense.params()[1]->value = Tensor({1}, {0.5f});
  EXPECT_EQ(dense.forward(Tensor({1, 1, 1, 2}, {1, 2}), Mode::Infer).to_vector(),
            (std::vector<float>{1.5f, 4.5f, 4.5f, 3.5f, 10.5f, 8.5f}));
  // "same", kernel 3, stride 2 on 2 columns: the full output has 5 columns, TensorFlow keeps the
  // first 4. Kernel row [1, 2, 3] on x = [1, 10]: [1, 2, 3 + 10, 20, 30] -> [1, 2, 13, 20].
  Conv2DTranspose same({.filters = 1,
                        .kernel_size = {1, 3},
                        .strides = {1, 2},
                        .padding = "same",
                        .use_bias = false});
  EXPECT_EQ(same.build({1, 1, 2}, rng), (Shape{1, 1, 4}));
  same.params()[0]->value = Tensor({1, 1, 1, 3}, {1, 2, 3});
  EXPECT_EQ(same.forward(Tensor({1, 1, 1, 2}, {1, 10}), Mode::Infer).to_vector(),
            (std::vector<float>{1, 2, 13, 20}));
  // output_padding 1 with "same": PyTorch's padding 1 crops the first column instead:
  // (2 − 1)·2 + 3 − 2 + 1 = 4 columns, [2, 13, 20, 30].
  Conv2DTranspose padded({.filters = 1,
                          .kernel_size = {1, 3},
                          .strides = {1, 2},
                          .padding = "same",
                          .output_padding = std::array<int64_t, 2>{0, 1},
                          .use_bias = false});
  EXPECT_EQ(padded.build({1, 1, 2}, rng), (Shape{1, 1, 4}));
  padded.params()[0]->value = Tensor({1, 1, 1, 3}, {1, 2, 3});
  EXPECT_EQ(padded.forward(Tensor({1, 1, 1, 2}, {1, 10}), Mode::Infer).to_vector(),
            (std::vector<float>{2, 13, 20, 30}));
}

TEST(Conv2DTranspose, OutputShapesFollowKeras) {
  Rng rng(2);
  struct Case {
    json spec;
    Shape input, output;
  };
  const Case cases[] = {
      // valid: (in − 1)·s + max(k, s).
      {{{"filters", 4}, {"kernel_size", 3}, {"strides", 2}}, {2, 7, 7}, {4, 15, 15}},
      {{{"filters", 1}, {"kernel_size", 2}, {"strides", 3}}, {1, 4, 5}, {1, 12, 15}},
      {{{"filters", 2}, {"kernel_size", {3, 1}}}, {1, 5, 6}, {2, 7, 6}},
      // same: in·s.
      {{{"filters", 8}, {"kernel_size", 3}, {"strides", 2}, {"padding", "same"}},
       {16, 7, 7},
       {8, 14, 14}},
      {{{"filters", 3}, {"kernel_size", 4}, {"strides", {1, 2}}, {"padding", "same"}},
       {2, 5, 3},
       {3, 5, 6}},
      // output_padding: (in − 1)·s + k − 2·pad + op.
      {{{"filters", 1}, {"kernel_size", 3}, {"strides", 2}, {"output_padding", 1}},
       {1, 4, 4},
       {1, 10, 10}},
      {{{"filters", 1},
        {"kernel_size", 5},
        {"strides", 3},
        {"padding", "same"},
        {"output_padding", {2, 0}}},
       {1, 4, 4},
       {1, 12, 10}},
  };
  for (const Case& c : cases) {
    json spec = c.spec;
    spec["type"] = "Conv2DTranspose";
    std::unique_ptr<Layer> layer = make_layer(spec);
    EXPECT_EQ(layer->build(c.input, rng), c.output) << spec.dump();
    Tensor y = layer->forward(testing::random_tensor({2, c.input[0], c.input[1], c.input[2]}, rng),
                              Mode::Infer);
    EXPECT_EQ(y.shape(), (Shape{2, c.output[0], c.output[1], c.output[2]})) << spec.dump();
    EXPECT_EQ(layer->params()[0]->value.shape(),
              (Shape{c.input[0], c.output[0], layer->config()["kernel_size"][0].get<int64_t>(),
                     layer->config()["kernel_size"][1].get<int64_t>()}));
    EXPECT_EQ(make_layer(layer->config())->config(), layer->config());
  }
}

TEST(Conv2DTranspose, BackwardMatchesFiniteDifferences) {
  struct Case {
    Conv2DTransposeOptions options;
    Shape input;
  };
  const Case cases[] = {
      {{.filters = 2, .kernel_size = {3, 3}, .strides = {2, 2}, .padding = "same"}, {3, 3, 4}},
      {{.filters = 3, .kernel_size = {2, 3}, .activation = "tanh"}, {2, 4, 3}},
      {{.filters = 1, .kernel_size = {2, 2}, .strides = {3, 2}, .use_bias = false}, {2, 3, 3}},
      {{.filters = 2,
        .kernel_size = {3, 3},
        .strides = {2, 2},
        .padding = "same",
        .output_padding = std::array<int64_t, 2>{1, 0},
        .activation = "sigmoid"},
       {2, 3, 3}},
      {{.filters = 2,
        .kernel_size = {4, 4},
        .strides = {2, 2},
        .padding = "valid",
        .activation = "elu"},
       {1, 2, 3}},
  };
  for (const Case& c : cases) {
    Rng rng(30);
    Conv2DTranspose layer(c.options);
    layer.build(c.input, rng);
    for (Param* p : layer.params()) {
      // A non-zero bias, so its effect on the activation is checked too.
      if (p->name == "bias") p->value = testing::random_tensor(p->value.shape(), rng, -0.5f, 0.5f);
    }
    SCOPED_TRACE(layer.config().dump());
    testing::expect_layer_gradients(
        layer, testing::random_tensor({3, c.input[0], c.input[1], c.input[2]}, rng));
  }
}

TEST(Conv2DTranspose, SkipsTheInputGradientWhenNotNeeded) {
  Rng rng(40);
  Conv2DTranspose layer({.filters = 2, .kernel_size = {3, 3}, .strides = {2, 2}});
  layer.build({1, 2, 2}, rng);
  layer.set_input_gradient_needed(false);
  Tensor y = layer.forward(testing::random_tensor({2, 1, 2, 2}, rng), Mode::Train);
  EXPECT_EQ(layer.backward(Tensor(y.shape())).size(), 0);
}

TEST(Conv2DTranspose, RejectsBadArgumentsAndShapes) {
  expect_throw_containing<ValueError>(
      [] {
        Conv2DTranspose({.filters = 0, .kernel_size = {3, 3}});
      },
      "Conv2DTranspose: filters must be positive, got 0");
  expect_throw_containing<ValueError>(
      [] {
        Conv2DTranspose({.filters = 2, .kernel_size = {3, 0}});
      },
      "Conv2DTranspose(filters=2, kernel_size=[3, 0]): kernel_size must be positive, got [3, 0]");
  expect_throw_containing<ValueError>(
      [] {
        Conv2DTranspose({.filters = 2, .kernel_size = {3, 3}, .strides = {0, 1}});
      },
      "strides must be positive, got [0, 1]");
  expect_throw_containing<ValueError>(
      [] {
        Conv2DTranspose({.filters = 2,
                         .kernel_size = {3, 3},
                         .strides = {2, 2},
                         .output_padding = std::array<int64_t, 2>{2, 0}});
      },
      "output_padding must be at least 0 and less than strides [2, 2], got [2, 0]");
  expect_throw_containing<ValueError>(
      [] {
        Conv2DTranspose({.filters = 2, .kernel_size = {3, 3}, .padding = "full"});
      },
      "padding must be 'valid' or 'same', got 'full'");
  expect_throw_containing<ValueError>(
      [] {
        Conv2DTranspose({.filters = 2, .kernel_size = {3, 3}, .activation = "softmax"});
      },
      "activation 'softmax' is not supported");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "Conv2DTranspose"}, {"filters", 2}});
      },
      "kernel_size");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "Conv2DTranspose"}, {"filters", 2}, {"kernel_size", "three"}});
      },
      "kernel_size");
  expect_throw_containing<ValueError>(
      [] {
        make_layer({{"type", "Conv2DTranspose"},
                    {"filters", 2},
                    {"kernel_size", 3},
                    {"dilation_rate", 2}});
      },
      "dilation_rate [2, 2] is not implemented");
  Rng rng(50);
  Conv2DTranspose layer({.filters = 2, .kernel_size = {3, 3}});
  expect_throw_containing<ShapeError>(
      [&] { layer.build({784}, rng); },
      "Conv2DTranspose(filters=2, kernel_size=[3, 3]): expected images [N, channels, height, "
      "width], got per-sample shape [784]");
  layer.build({1, 4, 4}, rng);
  expect_throw_containing<ShapeError>(
      [&] {
        layer.forward(Tensor({2, 16}), Mode::Infer);
      },
      "Conv2DTranspose takes images [N, channels, height, width]");
  Tensor y = layer.forward(testing::random_tensor({2, 1, 4, 4}, rng), Mode::Train);
  expect_throw_containing<ShapeError>(
      [&] {
        layer.backward(Tensor({2, 2, 5, 5}));
      },
      "Conv2DTranspose");
}

}  // namespace
}  // namespace nnkit
