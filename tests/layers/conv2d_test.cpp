#include "nnkit/layers/conv2d.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"
#include "nnkit/layers/registry.h"
#include "nnkit/model.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using nlohmann::json;
using testing::expect_layer_gradients;
using testing::random_tensor;

// The message of the exception f throws, or "" (failing the test) when it throws none.
template <typename E, typename F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception thrown";
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// Small random biases, so that the bias gradient check sees a non-trivial forward.
void randomize_bias(Conv2D& conv, Rng& rng) {
  if (conv.params().size() > 1)
    for (float& b : conv.params()[1]->value) b = rng.uniform(-0.5f, 0.5f);
}

TEST(Conv2D, ComputesACrossCorrelationWithBias) {
  Rng rng(1);
  Conv2D conv({.filters = 2, .kernel_size = {2, 2}});
  EXPECT_EQ(conv.build({1, 3, 3}, rng), (Shape{2, 2, 2}));
  conv.params()[0]->value = Tensor({2, 1, 2, 2}, {1, 0, 0, -1, 1, 1, 1, 1});
  conv.params()[1]->value = Tensor({2}, {0.5f, 0.0f});
  Tensor y = conv.forward(Tensor({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}), Mode::Infer);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f, 12, 16, 24, 28}));
}

TEST(Conv2D, SamePaddingPutsTheOddRowAndColumnAtTheBottomRight) {
  Rng rng(2);
  Conv2D conv({.filters = 1,
               .kernel_size = {2, 2},
               .padding = "same",
               .use_bias = false,
               .kernel_initializer = {.name = "ones"}});
  EXPECT_EQ(conv.build({1, 3, 3}, rng), (Shape{1, 3, 3}));
  Tensor y = conv.forward(Tensor({1, 1, 3, 3}, 1.0f), Mode::Infer);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{4, 4, 2, 4, 4, 2, 2, 2, 1}));
}

TEST(Conv2D, OutputShapesFollowKeras) {
  Rng rng(3);
  auto out = [&](Conv2DOptions o, Shape in) { return Conv2D(std::move(o)).build(in, rng); };
  EXPECT_EQ(out({.filters = 32, .kernel_size = {3, 3}, .padding = "same"}, {1, 28, 28}),
            (Shape{32, 28, 28}));
  EXPECT_EQ(out({.filters = 4, .kernel_size = {3, 3}}, {3, 28, 28}), (Shape{4, 26, 26}));
  EXPECT_EQ(
      out({.filters = 4, .kernel_size = {3, 3}, .strides = {2, 2}, .padding = "same"}, {3, 28, 27}),
      (Shape{4, 14, 14}));
  EXPECT_EQ(out({.filters = 4, .kernel_size = {3, 3}, .strides = {2, 3}}, {3, 10, 10}),
            (Shape{4, 4, 3}));
  EXPECT_EQ(out({.filters = 2, .kernel_size = {3, 5}, .dilation_rate = {2, 1}}, {1, 9, 9}),
            (Shape{2, 5, 5}));
  EXPECT_EQ(out({.filters = 2, .kernel_size = {5, 5}, .padding = "SAME"}, {1, 2, 3}),
            (Shape{2, 2, 3}));
}

struct Variant {
  std::string name;
  Conv2DOptions options;
  Shape input;  // [C, H, W]
  int64_t batch;
};

class Conv2DGradients : public ::testing::TestWithParam<Variant> {};

TEST_P(Conv2DGradients, MatchFiniteDifferences) {
  const Variant& v = GetParam();
  Rng rng(4);
  Conv2D conv(v.options);
  conv.build(v.input, rng);
  randomize_bias(conv, rng);
  Shape x_shape = {v.batch};
  x_shape.insert(x_shape.end(), v.input.begin(), v.input.end());
  expect_layer_gradients(conv, random_tensor(x_shape, rng));
}

INSTANTIATE_TEST_SUITE_P(
    Variants, Conv2DGradients,
    ::testing::Values(
        Variant{"Valid", {.filters = 3, .kernel_size = {3, 3}}, {2, 5, 6}, 2},
        Variant{"Same", {.filters = 3, .kernel_size = {3, 3}, .padding = "same"}, {2, 5, 6}, 2},
        Variant{"Stride2SameAsymmetricPad",
                {.filters = 3, .kernel_size = {3, 3}, .strides = {2, 2}, .padding = "same"},
                {2, 6, 7},
                3},
        Variant{
            "Stride3Valid", {.filters = 2, .kernel_size = {2, 2}, .strides = {3, 3}}, {3, 8, 7}, 1},
        Variant{"Dilation2",
                {.filters = 2, .kernel_size = {3, 3}, .padding = "same", .dilation_rate = {2, 2}},
                {2, 6, 5},
                2},
        Variant{"DilationValid",
                {.filters = 2, .kernel_size = {2, 3}, .dilation_rate = {1, 2}},
                {2, 5, 7},
                2},
        Variant{"RectangularKernel",
                {.filters = 4, .kernel_size = {1, 3}, .padding = "same"},
                {3, 4, 5},
                2},
        Variant{"NoBias", {.filters = 3, .kernel_size = {3, 3}, .use_bias = false}, {2, 5, 5}, 2},
        Variant{"Tanh",
                {.filters = 3, .kernel_size = {3, 3}, .padding = "same", .activation = "tanh"},
                {2, 4, 5},
                2},
        Variant{"Elu",
                {.filters = 3, .kernel_size = {2, 2}, .activation = "elu", .alpha = 0.5f},
                {2, 4, 4},
                2},
        Variant{"Sigmoid",
                {.filters = 2,
                 .kernel_size = {3, 3},
                 .strides = {2, 2},
                 .padding = "same",
                 .activation = "sigmoid"},
                {1, 5, 5},
                3},
        Variant{"SoftmaxOverChannels",
                {.filters = 4, .kernel_size = {2, 2}, .activation = "softmax"},
                {2, 4, 3},
                2},
        Variant{"OneByOne", {.filters = 3, .kernel_size = {1, 1}}, {5, 3, 4}, 2}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(Conv2D, SoftmaxNormalisesOverTheChannelsOfEachPixel) {
  Rng rng(5);
  Conv2D conv({.filters = 5, .kernel_size = {3, 3}, .padding = "same", .activation = "softmax"});
  conv.build({2, 4, 4}, rng);
  Tensor y = conv.forward(random_tensor({2, 2, 4, 4}, rng), Mode::Infer);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t p = 0; p < 16; ++p) {
      double sum = 0;
      for (int64_t f = 0; f < 5; ++f) sum += y[(n * 5 + f) * 16 + p];
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  EXPECT_EQ(conv.output_activation(), "");
}

TEST(Conv2D, FusedReluMatchesALinearConvolutionThenRelu) {
  Rng rng(10);
  Conv2D relu({.filters = 3, .kernel_size = {3, 3}, .padding = "same", .activation = "relu"});
  Conv2D linear({.filters = 3, .kernel_size = {3, 3}, .padding = "same"});
  relu.build({2, 5, 4}, rng);
  linear.build({2, 5, 4}, rng);
  randomize_bias(relu, rng);
  for (std::size_t i = 0; i < 2; ++i) linear.params()[i]->value = relu.params()[i]->value;
  Tensor x = random_tensor({3, 2, 5, 4}, rng), dy = random_tensor({3, 3, 5, 4}, rng);
  Tensor y = relu.forward(x, Mode::Train), z = linear.forward(x, Mode::Train);
  Tensor dz = dy;
  for (int64_t i = 0; i < z.size(); ++i) {
    EXPECT_NEAR(y[i], std::max(z[i], 0.0f), 1e-6f);
    if (z[i] <= 0.0f) dz[i] = 0.0f;
  }
  Tensor dx = relu.backward(dy), dx_linear = linear.backward(dz);
  for (int64_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx[i], dx_linear[i], 1e-5f);
  for (std::size_t p = 0; p < 2; ++p) {
    for (int64_t i = 0; i < relu.params()[p]->grad.size(); ++i) {
      EXPECT_NEAR(relu.params()[p]->grad[i], linear.params()[p]->grad[i], 1e-4f);
    }
  }
}

TEST(Conv2D, FusedSigmoidBackpropagatesAPreactivationGradient) {
  Rng rng(11);
  Conv2D sigmoid({.filters = 2, .kernel_size = {2, 2}, .activation = "sigmoid"});
  Conv2D linear({.filters = 2, .kernel_size = {2, 2}});
  EXPECT_EQ(sigmoid.output_activation(), "sigmoid");
  EXPECT_EQ(linear.output_activation(), "");
  sigmoid.build({1, 3, 3}, rng);
  linear.build({1, 3, 3}, rng);
  linear.params()[0]->value = sigmoid.params()[0]->value;
  Tensor x = random_tensor({2, 1, 3, 3}, rng), dz = random_tensor({2, 2, 2, 2}, rng);
  sigmoid.forward(x, Mode::Train);
  linear.forward(x, Mode::Train);
  EXPECT_EQ(sigmoid.backward_preactivation(dz).to_vector(), linear.backward(dz).to_vector());
  EXPECT_EQ(sigmoid.params()[0]->grad.to_vector(), linear.params()[0]->grad.to_vector());
  EXPECT_THROW(linear.backward_preactivation(dz), ValueError);
}

TEST(Conv2D, BackwardAddsIntoGradientsAndSkipsAnUnneededInputGradient) {
  Rng rng(6);
  Conv2D conv({.filters = 3, .kernel_size = {3, 3}, .padding = "same", .activation = "relu"});
  conv.build({2, 5, 5}, rng);
  Tensor x = random_tensor({4, 2, 5, 5}, rng), dy = random_tensor({4, 3, 5, 5}, rng);
  conv.forward(x, Mode::Train);
  Tensor dx = conv.backward(dy);
  EXPECT_EQ(dx.shape(), x.shape());
  std::vector<float> once = conv.params()[0]->grad.to_vector();
  std::vector<float> bias_once = conv.params()[1]->grad.to_vector();
  conv.set_input_gradient_needed(false);
  EXPECT_TRUE(conv.backward(dy).empty());
  for (std::size_t i = 0; i < once.size(); ++i) {
    EXPECT_NEAR(conv.params()[0]->grad[i], 2 * once[i], 1e-5f * (1 + std::fabs(once[i])));
  }
  for (std::size_t i = 0; i < bias_once.size(); ++i) {
    EXPECT_NEAR(conv.params()[1]->grad[i], 2 * bias_once[i], 1e-5f * (1 + std::fabs(bias_once[i])));
  }
}

TEST(Conv2D, TakesAnyBatchSizeOnceBuilt) {
  Rng rng(7);
  Conv2D conv({.filters = 2, .kernel_size = {3, 3}, .padding = "same"});
  conv.build({1, 6, 6}, rng);
  Tensor x = random_tensor({5, 1, 6, 6}, rng);
  Tensor y_all = conv.forward(x, Mode::Infer);
  for (int64_t n : {0, 3, 4}) {
    Tensor y_one = conv.forward(x.slice_rows(n, n + 1), Mode::Infer);
    for (int64_t i = 0; i < y_one.size(); ++i) {
      EXPECT_NEAR(y_one[i], y_all[n * y_one.size() + i], 1e-6f);
    }
  }
}

TEST(Conv2D, InitialisesGlorotUniformWithKerasFans) {
  Rng rng(8);
  Conv2D conv({.filters = 16, .kernel_size = {3, 3}, .bias_initializer = {.name = "ones"}});
  conv.build({4, 8, 8}, rng);
  const Tensor& w = conv.params()[0]->value;
  ASSERT_EQ(w.shape(), (Shape{16, 4, 3, 3}));
  EXPECT_EQ(conv.params()[0]->name, "weight");
  EXPECT_EQ(conv.params()[1]->name, "bias");
  // fan_in = 4·3·3, fan_out = 16·3·3.
  const float limit = std::sqrt(6.0f / (36.0f + 144.0f));
  float largest = 0.0f;
  for (float v : w) largest = std::max(largest, std::fabs(v));
  EXPECT_LE(largest, limit);
  EXPECT_GT(largest, 0.9f * limit);
  for (float b : conv.params()[1]->value) EXPECT_EQ(b, 1.0f);
  EXPECT_EQ(conv.param_count(), 16 * 36 + 16);
}

TEST(Conv2D, ConfigRoundTrips) {
  std::unique_ptr<Layer> layer = make_layer({{"type", "Conv2D"},
                                             {"filters", 8},
                                             {"kernel_size", 3},
                                             {"strides", {2, 1}},
                                             {"padding", "same"},
                                             {"activation", "leaky_relu"},
                                             {"alpha", 0.2},
                                             {"use_bias", false},
                                             {"kernel_initializer", "he_normal"}});
  json config = layer->config();
  EXPECT_EQ(config, (json{{"type", "Conv2D"},
                          {"filters", 8},
                          {"kernel_size", {3, 3}},
                          {"strides", {2, 1}},
                          {"padding", "same"},
                          {"dilation_rate", {1, 1}},
                          {"activation", "leaky_relu"},
                          {"alpha", 0.2},
                          {"use_bias", false},
                          {"kernel_initializer", "he_normal"},
                          {"bias_initializer", "zeros"}}));
  EXPECT_EQ(make_layer(config)->config(), config);
  // Keras's defaults, and a one-element list as a square.
  json defaults = make_layer({{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", {5}}})->config();
  EXPECT_EQ(defaults["kernel_size"], json({5, 5}));
  EXPECT_EQ(defaults["strides"], json({1, 1}));
  EXPECT_EQ(defaults["padding"], "valid");
  EXPECT_EQ(defaults["activation"], "linear");
  EXPECT_EQ(defaults["use_bias"], true);
  EXPECT_EQ(defaults["kernel_initializer"], "glorot_uniform");
}

TEST(Conv2D, TrainsInAModelAndSurvivesAModelFile) {
  // Images whose class is which half, left or right, holds the bright blob.
  Rng rng(12);
  const int64_t samples = 64;
  Tensor x({samples, 1, 6, 6}), y({samples});
  for (int64_t n = 0; n < samples; ++n) {
    const int64_t label = n % 2;
    y[n] = static_cast<float>(label);
    for (int64_t i = 0; i < 36; ++i) x[n * 36 + i] = rng.uniform(0.0f, 0.2f);
    const int64_t row = static_cast<int64_t>(rng.below(5));
    const int64_t col = label * 3 + static_cast<int64_t>(rng.below(2));
    for (int64_t r = row; r < row + 2; ++r)
      for (int64_t c = col; c < col + 2; ++c) x[n * 36 + r * 6 + c] = 1.0f;
  }
  Sequential model = Sequential::from_spec(json::parse(R"({
    "input_shape": [1, 6, 6],
    "layers": [
      {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
      {"type": "Conv2D", "filters": 4, "kernel_size": [2, 2], "strides": 2},
      {"type": "Flatten"},
      {"type": "Dense", "units": 2, "activation": "softmax"}],
    "loss": "sparse_categorical_crossentropy",
    "optimizer": {"type": "adam", "learning_rate": 0.01},
    "seed": 3})"));
  const double first = model.train_on_batch(x, y);
  double last = first;
  for (int step = 0; step < 60; ++step) last = model.train_on_batch(x, y);
  EXPECT_LT(last, 0.5 * first);

  testing::ScratchDir dir;
  save_model(dir.file("cnn.safetensors"), model);
  Sequential loaded = load_model(dir.file("cnn.safetensors"));
  EXPECT_EQ(loaded.predict(x).to_vector(), model.predict(x).to_vector());
}

TEST(Conv2D, RejectsBadArguments) {
  auto error_of = [](const json& spec) {
    return message_of<ValueError>([&] { make_layer(spec); });
  };
  const json base = {{"type", "Conv2D"}, {"filters", 4}, {"kernel_size", 3}};
  auto with = [&](const char* key, const json& value) {
    json spec = base;
    spec[key] = value;
    return spec;
  };
  EXPECT_CONTAINS(error_of({{"type", "Conv2D"}, {"kernel_size", 3}}),
                  "Conv2D: missing required argument 'filters'");
  EXPECT_CONTAINS(error_of({{"type", "Conv2D"}, {"filters", 3}}),
                  "Conv2D: missing required argument 'kernel_size'");
  EXPECT_CONTAINS(error_of(with("filters", 0)), "Conv2D: filters must be positive, got 0");
  EXPECT_CONTAINS(
      error_of(with("kernel_size", json({3, 0}))),
      "Conv2D(filters=4, kernel_size=[3, 0]): kernel_size must be positive, got [3, 0]");
  EXPECT_CONTAINS(error_of(with("kernel_size", json({3, 3, 3}))),
                  "Conv2D: argument 'kernel_size' must be an integer or a list of two integers");
  EXPECT_CONTAINS(error_of(with("kernel_size", "3")),
                  "Conv2D: argument 'kernel_size' must be an integer");
  EXPECT_CONTAINS(error_of(with("strides", 0)), "strides must be positive, got [0, 0]");
  EXPECT_CONTAINS(error_of(with("dilation_rate", json({1, -1}))),
                  "dilation_rate must be positive, got [1, -1]");
  json both = with("strides", 2);
  both["dilation_rate"] = 2;
  EXPECT_CONTAINS(error_of(both),
                  "strides > 1 together with dilation_rate > 1 is not supported (Keras refuses "
                  "it too), got strides [2, 2] and dilation_rate [2, 2]");
  EXPECT_CONTAINS(error_of(with("padding", "causal")),
                  "Conv2D(filters=4, kernel_size=[3, 3]): padding must be 'valid' or 'same', got "
                  "'causal'");
  EXPECT_CONTAINS(error_of(with("activation", "rleu")), "unknown activation 'rleu'");
  EXPECT_CONTAINS(error_of(with("alpha", 0.1)), "alpha applies to leaky_relu and elu only");
  EXPECT_CONTAINS(error_of(with("filter", 3)),
                  "unknown argument 'filter'; did you mean 'filters'?");
}

TEST(Conv2D, RejectsInputsItCannotConvolve) {
  Rng rng(9);
  Conv2D conv({.filters = 4, .kernel_size = {3, 3}});
  EXPECT_EQ(message_of<ShapeError>([&] { conv.build({784}, rng); }),
            "Conv2D(filters=4, kernel_size=[3, 3]): expected images [N, channels, height, width], "
            "got per-sample shape [784]; give input_shape as [channels, height, width] (NCHW), "
            "e.g. [1, 28, 28], or add Reshape");
  EXPECT_THROW(conv.build({28, 28}, rng), ShapeError);
  EXPECT_THROW(conv.build({1, 0, 28}, rng), ShapeError);
  Conv2D dilated({.filters = 4, .kernel_size = {3, 3}, .dilation_rate = {2, 2}});
  EXPECT_EQ(message_of<ShapeError>([&] {
              dilated.build({1, 4, 9}, rng);
            }),
            "Conv2D(filters=4, kernel_size=[3, 3]): the kernel spans 5x5 (kernel_size [3, 3], "
            "dilation_rate [2, 2]) but the input image is 4x9 with padding 'valid'; use padding "
            "'same', a smaller kernel, or ZeroPadding2D first");
  // "same" always fits.
  Conv2D same({.filters = 4, .kernel_size = {3, 3}, .padding = "same", .dilation_rate = {2, 2}});
  EXPECT_EQ(same.build({1, 4, 9}, rng), (Shape{4, 4, 9}));

  conv.build({1, 28, 28}, rng);
  EXPECT_EQ(message_of<ShapeError>([&] {
              conv.forward(Tensor({8, 784}), Mode::Infer);
            }),
            "Conv2D(filters=4, kernel_size=[3, 3]): expected input [N, 1, 28, 28], got [8, 784]; "
            "Conv2D takes images [N, channels, height, width]");
  EXPECT_THROW(conv.forward(Tensor({8, 3, 28, 28}), Mode::Infer), ShapeError);
  EXPECT_THROW(conv.backward(Tensor({8, 4, 26, 26})), ValueError);  // no training forward
  conv.forward(Tensor({8, 1, 28, 28}), Mode::Train);
  EXPECT_THROW(conv.backward(Tensor({8, 4, 28, 28})), ShapeError);
  EXPECT_THROW(
      Conv2D({.filters = 1, .kernel_size = {1, 1}}).forward(Tensor({1, 1, 2, 2}), Mode::Infer),
      ValueError);  // not built
}

}  // namespace
}  // namespace nnkit
