#include "nnkit/kernels/activations.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nnkit/error.h"
#include "nnkit/random.h"

namespace nnkit {
namespace {

constexpr Activation kAll[] = {Activation::linear,   Activation::sigmoid,      Activation::tanh,
                               Activation::relu,     Activation::leaky_relu,   Activation::elu,
                               Activation::selu,     Activation::swish,        Activation::softplus,
                               Activation::softsign, Activation::hard_sigmoid, Activation::softmax};

// Values over the whole useful range, plus the kinks, tiny values (where expm1, log1p and tanh
// lose precision if done naively) and large ones (where exp overflows if done naively).
std::vector<float> test_inputs(int64_t n, uint64_t seed) {
  const float special[] = {0.0f,   1e-7f, -1e-7f, 1e-3f,  -1e-3f,  0.5f,    -0.5f,
                           0.625f, -0.7f, 3.0f,   -3.0f,  2.999f,  -2.999f, 20.0f,
                           -20.0f, 88.0f, -88.0f, 100.0f, -100.0f, 1000.0f, -1000.0f};
  Rng rng(seed);
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = i < static_cast<int64_t>(std::size(special)) ? special[i] : rng.uniform(-12.0f, 12.0f);
  }
  return x;
}

std::string name_of(const ::testing::TestParamInfo<Activation>& info) {
  return activation_name(info.param);
}

class ActivationKernel : public ::testing::TestWithParam<Activation> {};

// Awkward shapes, and one large enough to run on several threads.
TEST_P(ActivationKernel, ForwardMatchesReference) {
  const Activation act = GetParam();
  const float alpha = act == Activation::leaky_relu ? 0.2f : activation_default_alpha(act);
  // 8 ulp of relative error; softmax's x − max rounds in float (the reference subtracts in
  // double), which costs it a few more for small probabilities. The absolute term admits e^x
  // clamped at ~1e-38 (a float's smallest normal) where the exact value is a denormal.
  const float relative = act == Activation::softmax ? 4e-6f : 5e-7f;
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {129, 33}, {130, 300}}) {
    std::vector<float> x = test_inputs(rows * cols, 11), y(x.size()), ref(x.size());
    activation_forward(act, alpha, rows, cols, x.data(), y.data());
    activation_forward_reference(act, alpha, rows, cols, x.data(), ref.data());
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_NEAR(y[i], ref[i], relative * std::fabs(ref[i]) + 1e-30f)
          << "x = " << x[i] << " at " << i << " of " << rows << "x" << cols;
    }
  }
}

TEST_P(ActivationKernel, BackwardMatchesReference) {
  const Activation act = GetParam();
  const float alpha = act == Activation::leaky_relu ? 0.2f : activation_default_alpha(act);
  Rng rng(5);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 17}, {129, 33}, {130, 300}}) {
    std::vector<float> x = test_inputs(rows * cols, 12), y(x.size()), dy(x.size()), dx(x.size()),
                       ref(x.size());
    for (float& v : dy) v = rng.uniform(-1.0f, 1.0f);
    activation_forward(act, alpha, rows, cols, x.data(), y.data());
    activation_backward(act, alpha, rows, cols, x.data(), y.data(), dy.data(), dx.data());
    activation_backward_reference(act, alpha, rows, cols, x.data(), dy.data(), ref.data());
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_NEAR(dx[i], ref[i], 2e-6f * std::max(1.0f, std::fabs(ref[i])))
          << "x = " << x[i] << " at " << i << " of " << rows << "x" << cols;
    }
  }
}

TEST_P(ActivationKernel, WorksInPlace) {
  const Activation act = GetParam();
  const float alpha = activation_default_alpha(act);
  const int64_t rows = 70, cols = 9;
  std::vector<float> x = test_inputs(rows * cols, 13), y(x.size()), z = x;
  activation_forward(act, alpha, rows, cols, x.data(), y.data());
  activation_forward(act, alpha, rows, cols, z.data(), z.data());
  EXPECT_EQ(y, z);
  std::vector<float> dy(x.size(), 0.5f), dx(x.size()), dz = dy;
  activation_backward(act, alpha, rows, cols, x.data(), y.data(), dy.data(), dx.data());
  activation_backward(act, alpha, rows, cols, x.data(), y.data(), dz.data(), dz.data());
  EXPECT_EQ(dx, dz);
}

TEST_P(ActivationKernel, PropagatesNaN) {
  const Activation act = GetParam();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float x[2] = {nan, 1.0f}, y[2];
  activation_forward(act, activation_default_alpha(act), 1, 2, x, y);
  EXPECT_TRUE(std::isnan(y[0])) << "a diverging run must show NaN, not a plausible number";
}

TEST_P(ActivationKernel, NameRoundTrips) {
  EXPECT_EQ(activation_from_name(activation_name(GetParam())), GetParam());
}

INSTANTIATE_TEST_SUITE_P(All, ActivationKernel, ::testing::ValuesIn(kAll), name_of);

TEST(Activation, UnknownNameListsTheValidOnes) {
  try {
    activation_from_name("rleu");
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("'rleu'"), std::string::npos) << message;
    EXPECT_NE(message.find("relu, leaky_relu"), std::string::npos) << message;
    EXPECT_NE(message.find("hard_sigmoid"), std::string::npos) << message;
  }
}

TEST(Activation, SiluIsSwish) { EXPECT_EQ(activation_from_name("silu"), Activation::swish); }

TEST(Activation, AlphaDefaultsFollowKeras) {
  EXPECT_FLOAT_EQ(activation_default_alpha(Activation::leaky_relu), 0.3f);
  EXPECT_FLOAT_EQ(activation_default_alpha(Activation::elu), 1.0f);
  EXPECT_TRUE(activation_has_alpha(Activation::elu));
  EXPECT_FALSE(activation_has_alpha(Activation::selu));
}

TEST(Softmax, RowsSumToOneAndLargeInputsDoNotOverflow) {
  // Rows 2 and 3 are row 1 shifted by ±1000: softmax is shift-invariant, and e^1000 overflows.
  std::vector<float> x = {0.0f,    1.0f,   2.0f,     -1.0f,   1000.0f, 1001.0f,
                          1002.0f, 999.0f, -1000.0f, -999.0f, -998.0f, -1001.0f};
  std::vector<float> y(x.size());
  activation_forward(Activation::softmax, 0.0f, 3, 4, x.data(), y.data());
  for (int r = 0; r < 3; ++r) {
    float sum = 0.0f;
    for (int c = 0; c < 4; ++c) {
      ASSERT_TRUE(std::isfinite(y[r * 4 + c]));
      sum += y[r * 4 + c];
    }
    EXPECT_NEAR(sum, 1.0f, 1e-6f) << "row " << r;
  }
  for (int c = 0; c < 4; ++c) {
    EXPECT_NEAR(y[4 + c], y[c], 1e-6f);
    EXPECT_NEAR(y[8 + c], y[c], 1e-6f);
  }
  // e^2 / (1 + e + e^2 + e^-1)
  EXPECT_NEAR(y[2], std::exp(2.0) / (1 + std::exp(1.0) + std::exp(2.0) + std::exp(-1.0)), 1e-6);
}

TEST(Softmax, BackwardIsYTimesDyMinusItsWeightedMean) {
  float y[3] = {0.2f, 0.3f, 0.5f}, dy[3] = {1.0f, 0.0f, -1.0f}, dx[3];
  activation_backward(Activation::softmax, 0.0f, 1, 3, nullptr, y, dy, dx);
  const float dot = 0.2f - 0.5f;
  EXPECT_FLOAT_EQ(dx[0], 0.2f * (1.0f - dot));
  EXPECT_FLOAT_EQ(dx[1], 0.3f * (0.0f - dot));
  EXPECT_FLOAT_EQ(dx[2], 0.5f * (-1.0f - dot));
}

TEST(HardSigmoid, HasExactValuesAndKinksAtPlusMinusThree) {
  std::vector<float> x = {-4.0f, -3.0f, -1.5f, 0.0f, 1.5f, 3.0f, 4.0f, 2.9f};
  std::vector<float> y(x.size()), dx(x.size()), dy(x.size(), 1.0f);
  activation_forward(Activation::hard_sigmoid, 0.0f, 1, 8, x.data(), y.data());
  EXPECT_EQ(y,
            (std::vector<float>{0.0f, 0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.0f, (2.9f + 3.0f) / 6.0f}));
  activation_backward(Activation::hard_sigmoid, 0.0f, 1, 8, x.data(), y.data(), dy.data(),
                      dx.data());
  const float sixth = 1.0f / 6.0f;
  EXPECT_EQ(dx, (std::vector<float>{0.0f, 0.0f, sixth, sixth, sixth, 0.0f, 0.0f, sixth}));
}

TEST(Sigmoid, IsStableForLargeMagnitudes) {
  float x[4] = {1000.0f, -1000.0f, 100.0f, -100.0f}, y[4];
  activation_forward(Activation::sigmoid, 0.0f, 1, 4, x, y);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_GE(y[1], 0.0f);
  EXPECT_LT(y[1], 1e-30f);
  EXPECT_EQ(y[2], 1.0f);
  EXPECT_LT(y[3], 1e-30f);
}

TEST(Softplus, IsStableAndExactAtZero) {
  float x[4] = {0.0f, 1000.0f, -1000.0f, 1e-4f}, y[4];
  activation_forward(Activation::softplus, 0.0f, 1, 4, x, y);
  EXPECT_FLOAT_EQ(y[0], std::log(2.0f));
  EXPECT_EQ(y[1], 1000.0f);
  EXPECT_LT(y[2], 1e-30f);
  EXPECT_FLOAT_EQ(y[3], static_cast<float>(std::log1p(std::exp(1e-4))));
}

TEST(Elu, KeepsRelativePrecisionNearZero) {
  // alpha·(e^x − 1) computed as e^x − 1 would lose most digits here.
  float x[2] = {-1e-6f, -1e-3f}, y[2];
  activation_forward(Activation::elu, 1.0f, 1, 2, x, y);
  EXPECT_NEAR(y[0], std::expm1(-1e-6), 1e-12);
  EXPECT_NEAR(y[1], std::expm1(-1e-3), 1e-9);
}

TEST(LeakyRelu, UsesAlphaOnTheNegativeSide) {
  float x[3] = {-2.0f, 0.0f, 2.0f}, y[3], dy[3] = {1.0f, 1.0f, 1.0f}, dx[3];
  activation_forward(Activation::leaky_relu, 0.1f, 1, 3, x, y);
  EXPECT_FLOAT_EQ(y[0], -0.2f);
  EXPECT_FLOAT_EQ(y[2], 2.0f);
  activation_backward(Activation::leaky_relu, 0.1f, 1, 3, x, y, dy, dx);
  EXPECT_FLOAT_EQ(dx[0], 0.1f);
  EXPECT_FLOAT_EQ(dx[1], 0.1f);
  EXPECT_FLOAT_EQ(dx[2], 1.0f);
}

TEST(Selu, UsesTheStandardConstants) {
  float x[2] = {1.0f, -1.0f}, y[2];
  activation_forward(Activation::selu, 0.0f, 1, 2, x, y);
  EXPECT_FLOAT_EQ(y[0], 1.0507009873554805f);
  EXPECT_FLOAT_EQ(y[1],
                  static_cast<float>(1.0507009873554805 * 1.6732632423543772 * std::expm1(-1.0)));
}

}  // namespace
}  // namespace nnkit
