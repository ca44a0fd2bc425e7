#include "nnkit/layers/dense.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "gradient_check.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

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

TEST(Dense, ComputesXTimesWeightTransposedPlusBias) {
  Rng rng(1);
  Dense dense({.units = 3});
  dense.build({2}, rng);
  dense.params()[0]->value = Tensor({3, 2}, {1, 2, 3, 4, 5, 6});
  dense.params()[1]->value = Tensor({3}, {0.5f, -1.0f, 0.0f});
  Tensor y = dense.forward(Tensor({2, 2}, {1, -1, 0, 2}), Mode::Infer);
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{-0.5f, -2.0f, -1.0f, 4.5f, 7.0f, 12.0f}));
}

// One sample takes the matrix-vector kernel (kernels/gemv.h) rather than the GEMM: the same
// outputs as that sample within a batch, for widths past one 16-lane block and with a tail.
TEST(Dense, OneSampleEqualsItsRowOfABatch) {
  Rng rng(2);
  for (const auto& [in, units] : {std::pair<int64_t, int64_t>{128, 1}, {37, 19}, {6, 40}}) {
    Dense dense({.units = units, .activation = "tanh"});
    dense.build({in}, rng);
    Tensor batch = random_tensor({3, in}, rng);
    Tensor all = dense.forward(batch, Mode::Infer);
    for (int64_t n = 0; n < 3; ++n) {
      Tensor one({1, in});
      std::copy_n(batch.data() + n * in, in, one.data());
      Tensor y = dense.forward(one, Mode::Infer);
      ASSERT_EQ(y.shape(), (Shape{1, units}));
      for (int64_t j = 0; j < units; ++j)
        EXPECT_NEAR(y[j], all[n * units + j], 1e-6) << n << " " << j;
    }
  }
}

TEST(Dense, BackwardMatchesFiniteDifferences) {
  Rng rng(2);
  Dense dense({.units = 4, .activation = "tanh"});
  dense.build({5}, rng);
  for (float& b : dense.params()[1]->value) b = rng.uniform(-0.5f, 0.5f);
  expect_layer_gradients(dense, random_tensor({3, 5}, rng));
}

TEST(Dense, BackwardOnSequencesMatchesFiniteDifferences) {
  Rng rng(3);
  Dense dense({.units = 3, .activation = "sigmoid"});
  EXPECT_EQ(dense.build({4, 5}, rng), (Shape{4, 3}));
  expect_layer_gradients(dense, random_tensor({2, 4, 5}, rng));
}

TEST(Dense, AppliesTheSameWeightsAtEveryTimeStep) {
  Rng rng(4);
  Dense dense({.units = 3, .activation = "relu"});
  dense.build({6, 2}, rng);
  Tensor x = random_tensor({2, 6, 2}, rng);
  Tensor y = dense.forward(x, Mode::Infer);
  ASSERT_EQ(y.shape(), (Shape{2, 6, 3}));
  Dense flat({.units = 3, .activation = "relu"});
  flat.build({2}, rng);
  flat.params()[0]->value = dense.params()[0]->value;
  Tensor y_flat = flat.forward(x.reshaped({12, 2}), Mode::Infer);
  EXPECT_EQ(y.to_vector(), y_flat.to_vector());
}

class DenseActivation : public ::testing::TestWithParam<std::string> {};

// The activations with a continuous derivative; those with a kink (relu, leaky_relu, selu,
// hard_sigmoid) are checked on inputs nudged away from it in activation_test.cpp, which Dense
// cannot do for z.
TEST_P(DenseActivation, BackwardMatchesFiniteDifferences) {
  Rng rng(5);
  Dense dense({.units = 4, .activation = GetParam()});
  dense.build({3}, rng);
  expect_layer_gradients(dense, random_tensor({4, 3}, rng));
}

INSTANTIATE_TEST_SUITE_P(Smooth, DenseActivation,
                         ::testing::Values("linear", "sigmoid", "tanh", "elu", "swish", "softplus",
                                           "softsign", "softmax"),
                         [](const auto& param_info) { return param_info.param; });

TEST(Dense, BackwardAddsIntoGradients) {
  Rng rng(6);
  Dense dense({.units = 2, .activation = "softplus"});
  dense.build({3}, rng);
  Tensor x = random_tensor({4, 3}, rng), dy = random_tensor({4, 2}, rng);
  dense.forward(x, Mode::Train);
  dense.backward(dy);
  std::vector<float> once = dense.params()[0]->grad.to_vector();
  std::vector<float> bias_once = dense.params()[1]->grad.to_vector();
  dense.backward(dy);
  for (std::size_t i = 0; i < once.size(); ++i) {
    EXPECT_FLOAT_EQ(dense.params()[0]->grad[i], 2 * once[i]);
  }
  for (std::size_t i = 0; i < bias_once.size(); ++i) {
    EXPECT_FLOAT_EQ(dense.params()[1]->grad[i], 2 * bias_once[i]);
  }
  dense.zero_grad();
  EXPECT_EQ(dense.params()[0]->grad[0], 0.0f);
}

TEST(Dense, WithoutBiasHasOnlyWeight) {
  Rng rng(7);
  Dense dense({.units = 2, .use_bias = false});
  dense.build({3}, rng);
  ASSERT_EQ(dense.params().size(), 1u);
  EXPECT_EQ(dense.params()[0]->name, "weight");
  EXPECT_EQ(dense.params()[0]->value.shape(), (Shape{2, 3}));
  EXPECT_EQ(dense.param_count(), 6);
  expect_layer_gradients(dense, random_tensor({2, 3}, rng));
}

TEST(Dense, InitialisesWeightsInPyTorchLayoutWithGlorotUniform) {
  Rng rng(8);
  Dense dense({.units = 30, .bias_initializer = {.name = "ones"}});
  dense.build({10}, rng);
  const Tensor& w = dense.params()[0]->value;
  ASSERT_EQ(w.shape(), (Shape{30, 10}));
  const float limit = std::sqrt(6.0f / 40.0f);
  float largest = 0.0f;
  for (float v : w) largest = std::max(largest, std::fabs(v));
  EXPECT_LE(largest, limit);
  EXPECT_GT(largest, 0.8f * limit);
  for (float b : dense.params()[1]->value) EXPECT_EQ(b, 1.0f);
}

TEST(Dense, FusedSoftmaxBackpropagatesAPreactivationGradient) {
  Rng rng(9);
  Dense dense({.units = 3, .activation = "softmax"}), linear({.units = 3});
  EXPECT_EQ(dense.output_activation(), "softmax");
  EXPECT_EQ(linear.output_activation(), "");
  EXPECT_EQ(Dense({.units = 1, .activation = "sigmoid"}).output_activation(), "sigmoid");
  dense.build({4}, rng);
  linear.build({4}, rng);
  linear.params()[0]->value = dense.params()[0]->value;
  Tensor x = random_tensor({2, 4}, rng), dz = random_tensor({2, 3}, rng);
  dense.forward(x, Mode::Train);
  linear.forward(x, Mode::Train);
  Tensor dx = dense.backward_preactivation(dz), dx_linear = linear.backward(dz);
  EXPECT_EQ(dx.to_vector(), dx_linear.to_vector());
  EXPECT_EQ(dense.params()[0]->grad.to_vector(), linear.params()[0]->grad.to_vector());
}

TEST(Dense, RejectsAFlatInputMismatchWithAHint) {
  Rng rng(10);
  Dense dense({.units = 128});
  dense.build({784}, rng);
  std::string message = message_of<ShapeError>([&] {
    dense.forward(Tensor({32, 28, 28}), Mode::Infer);
  });
  EXPECT_EQ(message,
            "Dense(units=128): expected input [N, 784], got [32, 28, 28]; add Flatten before "
            "Dense");
  message = message_of<ShapeError>([&] { dense.forward(Tensor({32, 100}), Mode::Infer); });
  EXPECT_EQ(message, "Dense(units=128): expected input [N, 784], got [32, 100]");
}

TEST(Dense, RejectsBadOptions) {
  EXPECT_NE(message_of<ValueError>([] { Dense({.units = 0}); }).find("units must be positive"),
            std::string::npos);
  std::string message = message_of<ValueError>([] { Dense({.units = 2, .activation = "rleu"}); });
  EXPECT_NE(message.find("Dense(units=2): unknown activation 'rleu'"), std::string::npos)
      << message;
  message =
      message_of<ValueError>([] { Dense({.units = 2, .activation = "relu", .alpha = 0.1f}); });
  EXPECT_NE(message.find("alpha applies to leaky_relu and elu only"), std::string::npos) << message;
}

TEST(Dense, BackwardNeedsATrainingForward) {
  Rng rng(11);
  Dense dense({.units = 2});
  EXPECT_THROW(dense.forward(Tensor({1, 3}), Mode::Infer), ValueError);  // not built
  dense.build({3}, rng);
  EXPECT_THROW(dense.backward(Tensor({1, 2})), ValueError);
  dense.forward(Tensor({1, 3}), Mode::Train);
  EXPECT_NO_THROW(dense.backward(Tensor({1, 2})));
  EXPECT_THROW(dense.backward(Tensor({2, 2})), ShapeError);
  dense.forward(Tensor({1, 3}), Mode::Infer);  // drops the training cache
  EXPECT_THROW(dense.backward(Tensor({1, 2})), ValueError);
}

TEST(Dense, LeakyReluAlphaReachesTheKernel) {
  Rng rng(12);
  Dense dense({.units = 1, .activation = "leaky_relu", .alpha = 0.1f, .use_bias = false});
  dense.build({1}, rng);
  dense.params()[0]->value[0] = 1.0f;
  Tensor y = dense.forward(Tensor({2, 1}, {-2.0f, 3.0f}), Mode::Infer);
  EXPECT_FLOAT_EQ(y[0], -0.2f);
  EXPECT_FLOAT_EQ(y[1], 3.0f);
}

}  // namespace
}  // namespace nnkit
