#include "nnkit/layers/activation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

using testing::expect_layer_gradients;
using testing::random_tensor;

// Random values in [-5, 5] kept at least 0.1 from the kinks at 0 (relu, leaky_relu, selu) and
// ±3 (hard_sigmoid), farther than the finite-difference step of 0.01.
Tensor nudged_input(const Shape& shape, Rng& rng) {
  Tensor x = random_tensor(shape, rng, -5.0f, 5.0f);
  for (float& v : x) {
    for (float kink : {0.0f, 3.0f, -3.0f}) {
      if (std::fabs(v - kink) < 0.1f) v = kink + (v < kink ? -0.1f : 0.1f);
    }
  }
  return x;
}

class EveryActivation : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryActivation, BackwardMatchesFiniteDifferences) {
  Rng rng(21);
  ActivationLayer layer({.activation = GetParam()});
  EXPECT_EQ(layer.build({3, 7}, rng), (Shape{3, 7}));
  expect_layer_gradients(layer, nudged_input({2, 3, 7}, rng));
}

INSTANTIATE_TEST_SUITE_P(All, EveryActivation,
                         ::testing::Values("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu",
                                           "selu", "swish", "softplus", "softsign", "hard_sigmoid",
                                           "softmax"),
                         [](const auto& param_info) { return param_info.param; });

TEST(ActivationLayer, AlphaBackwardMatchesFiniteDifferences) {
  Rng rng(22);
  for (std::string name : {"leaky_relu", "elu"}) {
    ActivationLayer layer({.activation = name, .alpha = 0.7f});
    layer.build({5}, rng);
    Tensor x = nudged_input({4, 5}, rng);
    expect_layer_gradients(layer, x);
    // alpha reaches the kernel: the negative side scales with it.
    Tensor y = layer.forward(Tensor({1, 5}, {-1, -1, -1, -1, -1}), Mode::Infer);
    EXPECT_NEAR(y[0], name == "elu" ? 0.7 * std::expm1(-1.0) : -0.7, 1e-6) << name;
  }
}

TEST(ActivationLayer, SoftmaxNormalisesTheLastAxis) {
  Rng rng(23);
  ActivationLayer layer({.activation = "softmax"});
  layer.build({3, 4}, rng);
  Tensor y = layer.forward(random_tensor({2, 3, 4}, rng, -3, 3), Mode::Infer);
  for (int row = 0; row < 6; ++row) {
    float sum = 0;
    for (int c = 0; c < 4; ++c) sum += y[row * 4 + c];
    EXPECT_NEAR(sum, 1.0f, 1e-6f) << "row " << row;
  }
}

TEST(ActivationLayer, FusesSoftmaxAndSigmoidForTheLoss) {
  Rng rng(24);
  ActivationLayer softmax({.activation = "softmax"}), relu({.activation = "relu"});
  EXPECT_EQ(softmax.output_activation(), "softmax");
  EXPECT_EQ(ActivationLayer({.activation = "sigmoid"}).output_activation(), "sigmoid");
  EXPECT_EQ(relu.output_activation(), "");
  softmax.build({3}, rng);
  softmax.forward(random_tensor({2, 3}, rng), Mode::Train);
  Tensor dz = random_tensor({2, 3}, rng);
  EXPECT_EQ(softmax.backward_preactivation(dz).to_vector(), dz.to_vector());
  EXPECT_THROW(relu.backward_preactivation(dz), ValueError);
}

TEST(ActivationLayer, ReadsKerasActivationLayers) {
  auto leaky = ActivationLayer::from_config({{"type", "LeakyReLU"}, {"alpha", 0.1}});
  EXPECT_EQ(leaky->config(),
            (nlohmann::json{{"type", "Activation"}, {"activation", "leaky_relu"}, {"alpha", 0.1}}));
  auto slope = ActivationLayer::from_config({{"type", "LeakyReLU"}, {"negative_slope", 0.2}});
  EXPECT_EQ(slope->config()["alpha"], 0.2);
  EXPECT_EQ(ActivationLayer::from_config({{"type", "LeakyReLU"}})->config()["alpha"], 0.3);
  EXPECT_EQ(ActivationLayer::from_config({{"type", "ELU"}})->config(),
            (nlohmann::json{{"type", "Activation"}, {"activation", "elu"}, {"alpha", 1.0}}));
  EXPECT_EQ(ActivationLayer::from_config({{"type", "ReLU"}})->config(),
            (nlohmann::json{{"type", "Activation"}, {"activation", "relu"}}));
  EXPECT_EQ(ActivationLayer::from_config({{"type", "Softmax"}, {"axis", -1}})->config(),
            (nlohmann::json{{"type", "Activation"}, {"activation", "softmax"}}));
}

TEST(ActivationLayer, RejectsWhatItCannotDo) {
  try {
    ActivationLayer::from_config({{"type", "Softmax"}, {"axis", 1}});
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("only axis=-1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ActivationLayer({.activation = "relu", .alpha = 0.1f}), ValueError);
  EXPECT_THROW(ActivationLayer({.activation = "gelu"}), ValueError);
  EXPECT_THROW(ActivationLayer::from_config(
                   {{"type", "LeakyReLU"}, {"alpha", 0.1}, {"negative_slope", 0.1}}),
               ValueError);
  Rng rng(25);
  ActivationLayer layer({.activation = "tanh"});
  layer.build({4}, rng);
  EXPECT_THROW(layer.forward(Tensor({2, 5}), Mode::Train), ShapeError);
  EXPECT_THROW(layer.backward(Tensor({2, 4})), ValueError);  // no training forward yet
}

}  // namespace
}  // namespace nnkit
