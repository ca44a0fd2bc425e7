#include "nnkit/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_gradients;
using testing::GradCheckOptions;
using testing::random_tensor;

// Checks loss.gradient() against central differences of loss.value() through the shared
// helper: forward is the loss as a one-element tensor, backward scales the gradient by dy.
void expect_loss_gradient(const Loss& loss, const Tensor& pred, const Tensor& target,
                          GradCheckOptions options = {}) {
  Tensor last;
  expect_gradients(
      [&](const Tensor& p) {
        last = p;
        return Tensor({1}, {static_cast<float>(loss.value(p, target))});
      },
      [&](const Tensor& dy) {
        Tensor g = loss.gradient(last, target);
        for (float& v : g) v *= dy[0];
        return g;
      },
      pred, {}, options);
}

Tensor one_hot(const std::vector<int>& labels, int classes) {
  Tensor t({static_cast<int64_t>(labels.size()), classes});
  for (std::size_t r = 0; r < labels.size(); ++r) t[r * classes + labels[r]] = 1.0f;
  return t;
}

// Row-wise softmax in double, rounded to float.
Tensor softmax(const Tensor& z) {
  Tensor p(z.shape());
  int64_t classes = z.dim(-1);
  for (int64_t r = 0; r < z.size() / classes; ++r) {
    double m = z[r * classes], sum = 0;
    for (int64_t c = 0; c < classes; ++c) m = std::max(m, static_cast<double>(z[r * classes + c]));
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[r * classes + c] - m);
    for (int64_t c = 0; c < classes; ++c) {
      p[r * classes + c] = static_cast<float>(std::exp(z[r * classes + c] - m) / sum);
    }
  }
  return p;
}

std::vector<double> as_doubles(const Tensor& t) { return {t.begin(), t.end()}; }

// ---- values computed by hand ----

TEST(MeanSquaredError, ValueAndGradientByHand) {
  MeanSquaredError loss;
  Tensor pred({2, 2}, {1, 2, 3, 4}), target({2, 2}, {1, 0, 1, 1});
  // errors 0, 2, 2, 3: (0 + 4 + 4 + 9) / 4
  EXPECT_DOUBLE_EQ(loss.value(pred, target), 4.25);
  EXPECT_EQ(loss.gradient(pred, target).to_vector(), (std::vector<float>{0, 1, 1, 1.5f}));
}

TEST(MeanAbsoluteError, ValueAndGradientByHandWithZeroAtZero) {
  MeanAbsoluteError loss;
  Tensor pred({4}, {1, 2, 3, -4}), target({4}, {1, 0, 1, 1});
  EXPECT_DOUBLE_EQ(loss.value(pred, target), (0 + 2 + 2 + 5) / 4.0);
  EXPECT_EQ(loss.gradient(pred, target).to_vector(), (std::vector<float>{0, 0.25f, 0.25f, -0.25f}));
}

TEST(Huber, QuadraticInsideDeltaLinearBeyond) {
  Huber loss(1.0f);
  Tensor pred({4}, {0.5f, -2, 0, 3}), target({4}, {0, 0, 0, 0});
  // 0.5·0.25, 1·(2 - 0.5), 0, 1·(3 - 0.5)
  EXPECT_DOUBLE_EQ(loss.value(pred, target), (0.125 + 1.5 + 0 + 2.5) / 4);
  EXPECT_EQ(loss.gradient(pred, target).to_vector(),
            (std::vector<float>{0.125f, -0.25f, 0, 0.25f}));
  Huber wide(2.0f);
  // |e| = 3 > 2: 2·(3 - 1); |e| = 2 <= 2: 0.5·4.
  EXPECT_DOUBLE_EQ(wide.value(Tensor({2}, {3, -2}), Tensor({2}, {0, 0})), (4.0 + 2.0) / 2);
}

TEST(BinaryCrossentropy, ValueByHand) {
  BinaryCrossentropy loss;
  Tensor pred({2, 1}, {0.9f, 0.2f}), target({2, 1}, {1, 0});
  double expected = -(std::log(static_cast<double>(0.9f)) + std::log(1.0 - 0.2f)) / 2;
  EXPECT_NEAR(loss.value(pred, target), expected, 1e-12);
  // Soft targets: -(y log p + (1 - y) log(1 - p)).
  Tensor soft({1}, {0.25f});
  double p = 0.9f;
  EXPECT_NEAR(loss.value(Tensor({1}, {0.9f}), soft), -(0.25 * std::log(p) + 0.75 * std::log(1 - p)),
              1e-12);
}

TEST(BinaryCrossentropy, ClipsProbabilitiesAndZeroesTheGradientThere) {
  BinaryCrossentropy loss;
  Tensor pred({2}, {0.0f, 1.0f}), target({2}, {1, 0});
  // Both terms are -log(1e-7), as Keras clips to [1e-7, 1 - 1e-7].
  EXPECT_NEAR(loss.value(pred, target), -std::log(1e-7), 1e-6);
  EXPECT_EQ(loss.gradient(pred, target).to_vector(), (std::vector<float>{0, 0}));
}

TEST(CategoricalCrossentropy, SumsOverClassesAndAveragesOverRows) {
  CategoricalCrossentropy loss;
  Tensor pred({2, 3}, {0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f});
  Tensor target = one_hot({0, 2}, 3);
  double expected =
      -(std::log(static_cast<double>(0.7f)) + std::log(static_cast<double>(0.8f))) / 2;
  EXPECT_NEAR(loss.value(pred, target), expected, 1e-12);
  // Rank 3: [2, 2, 3] is four rows.
  Tensor pred3({2, 2, 3}, {0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f, 0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f});
  Tensor target3 = one_hot({0, 2, 1, 2}, 3).reshaped({2, 2, 3});
  double expected3 =
      -(std::log(static_cast<double>(0.7f)) + 2 * std::log(static_cast<double>(0.8f)) +
        std::log(static_cast<double>(0.2f))) /
      4;
  EXPECT_NEAR(loss.value(pred3, target3), expected3, 1e-12);
}

TEST(SparseCategoricalCrossentropy, MatchesCategoricalOnOneHotTargets) {
  SparseCategoricalCrossentropy sparse;
  CategoricalCrossentropy dense;
  Rng rng(7);
  Tensor pred = random_tensor({5, 4}, rng, 0.05f, 1.0f);
  std::vector<int> labels{0, 3, 2, 1, 3};
  Tensor flat({5}, {0, 3, 2, 1, 3});
  Tensor column({5, 1}, {0, 3, 2, 1, 3});
  EXPECT_NEAR(sparse.value(pred, flat), dense.value(pred, one_hot(labels, 4)), 1e-12);
  EXPECT_NEAR(sparse.value(pred, column), dense.value(pred, one_hot(labels, 4)), 1e-12);
  EXPECT_EQ(sparse.gradient(pred, flat).to_vector(),
            dense.gradient(pred, one_hot(labels, 4)).to_vector());
  // Rank 3 prediction [2, 3, 4] with labels [2, 3].
  Tensor pred3 = random_tensor({2, 3, 4}, rng, 0.05f, 1.0f);
  Tensor labels3({2, 3}, {0, 1, 2, 3, 0, 1});
  EXPECT_NEAR(sparse.value(pred3, labels3),
              dense.value(pred3, one_hot({0, 1, 2, 3, 0, 1}, 4).reshaped({2, 3, 4})), 1e-12);
}

TEST(Crossentropy, FromLogitsEqualsProbabilitiesOfSoftmaxAndSigmoid) {
  Rng rng(3);
  Tensor z = random_tensor({4, 3}, rng, -3, 3);
  Tensor y = one_hot({2, 0, 1, 1}, 3);
  Tensor labels({4}, {2, 0, 1, 1});
  CategoricalCrossentropy from_logits({.from_logits = true});
  EXPECT_NEAR(from_logits.value(z, y), CategoricalCrossentropy().value(softmax(z), y), 1e-6);
  SparseCategoricalCrossentropy sparse_logits({.from_logits = true});
  EXPECT_NEAR(sparse_logits.value(z, labels), CategoricalCrossentropy().value(softmax(z), y), 1e-6);
  Tensor sig(z.shape());
  for (int64_t i = 0; i < z.size(); ++i) sig[i] = static_cast<float>(1 / (1 + std::exp(-z[i])));
  Tensor by = random_tensor(z.shape(), rng, 0, 1);
  EXPECT_NEAR(BinaryCrossentropy({.from_logits = true}).value(z, by),
              BinaryCrossentropy().value(sig, by), 1e-6);
}

TEST(Crossentropy, FromLogitsIsStableForHugeLogits) {
  // Naive log(softmax) or log(sigmoid) would give inf or NaN here.
  CategoricalCrossentropy cce({.from_logits = true});
  Tensor z({1, 2}, {1000, 0});
  EXPECT_NEAR(cce.value(z, one_hot({1}, 2)), 1000.0, 1e-9);
  EXPECT_NEAR(cce.value(z, one_hot({0}, 2)), 0.0, 1e-9);
  Tensor g = cce.gradient(z, one_hot({1}, 2));
  EXPECT_FLOAT_EQ(g[0], 1.0f);
  EXPECT_FLOAT_EQ(g[1], -1.0f);
  BinaryCrossentropy bce({.from_logits = true});
  EXPECT_NEAR(bce.value(Tensor({2}, {-1000, 1000}), Tensor({2}, {1, 1})), 500.0, 1e-9);
  Tensor gb = bce.gradient(Tensor({2}, {-1000, 1000}), Tensor({2}, {1, 1}));
  EXPECT_FLOAT_EQ(gb[0], -0.5f);
  EXPECT_FLOAT_EQ(gb[1], 0.0f);
}

// ---- gradients against finite differences ----

TEST(Losses, GradientsMatchFiniteDifferences) {
  Rng rng(11);
  Tensor pred = random_tensor({3, 4}, rng, -2, 2);
  Tensor target = random_tensor({3, 4}, rng, -2, 2);
  // Nudge away from the kinks: |e| away from 0 (mae) and from delta (huber).
  for (int64_t i = 0; i < pred.size(); ++i) {
    float e = pred[i] - target[i];
    if (std::fabs(e) < 0.1f) pred[i] += 0.3f;
    if (std::fabs(std::fabs(pred[i] - target[i]) - 1.0f) < 0.1f) pred[i] += 0.3f;
  }
  {
    SCOPED_TRACE("mse");
    expect_loss_gradient(MeanSquaredError(), pred, target);
  }
  {
    SCOPED_TRACE("mae");
    expect_loss_gradient(MeanAbsoluteError(), pred, target);
  }
  {
    SCOPED_TRACE("huber");
    expect_loss_gradient(Huber(1.0f), pred, target);
  }
}

TEST(Losses, CrossentropyGradientsMatchFiniteDifferences) {
  Rng rng(12);
  GradCheckOptions fine{.step = 1e-3f};
  Tensor probs = random_tensor({2, 3, 4}, rng, 0.2f, 0.9f);
  Tensor soft_targets = random_tensor({2, 3, 4}, rng, 0.0f, 1.0f);
  Tensor logits = random_tensor({2, 3, 4}, rng, -3, 3);
  Tensor one_hot_targets = one_hot({0, 3, 1, 2, 2, 0}, 4).reshaped({2, 3, 4});
  Tensor labels({2, 3}, {0, 3, 1, 2, 2, 0});
  {
    SCOPED_TRACE("binary_crossentropy");
    expect_loss_gradient(BinaryCrossentropy(), probs, soft_targets, fine);
  }
  {
    SCOPED_TRACE("binary_crossentropy from logits");
    expect_loss_gradient(BinaryCrossentropy({.from_logits = true}), logits, soft_targets);
  }
  {
    SCOPED_TRACE("categorical_crossentropy, soft targets");
    expect_loss_gradient(CategoricalCrossentropy(), probs, soft_targets, fine);
  }
  {
    SCOPED_TRACE("categorical_crossentropy from logits, soft targets");
    expect_loss_gradient(CategoricalCrossentropy({.from_logits = true}), logits, soft_targets);
  }
  {
    SCOPED_TRACE("categorical_crossentropy from logits, one-hot targets");
    expect_loss_gradient(CategoricalCrossentropy({.from_logits = true}), logits, one_hot_targets);
  }
  {
    SCOPED_TRACE("sparse_categorical_crossentropy");
    expect_loss_gradient(SparseCategoricalCrossentropy(), probs, labels, fine);
  }
  {
    SCOPED_TRACE("sparse_categorical_crossentropy from logits");
    expect_loss_gradient(SparseCategoricalCrossentropy({.from_logits = true}), logits, labels);
  }
}

// ---- fused gradients against the unfused chain ----

// dz_j = Σ_i dp_i · ∂p_i/∂z_j = p_j · (dp_j - Σ_i dp_i p_i) for p = softmax(z).
Tensor softmax_backward(const Tensor& p, const Tensor& dp) {
  Tensor dz(p.shape());
  int64_t classes = p.dim(-1);
  for (int64_t r = 0; r < p.size() / classes; ++r) {
    double dot = 0;
    for (int64_t c = 0; c < classes; ++c)
      dot += static_cast<double>(dp[r * classes + c]) * p[r * classes + c];
    for (int64_t c = 0; c < classes; ++c) {
      dz[r * classes + c] = static_cast<float>(p[r * classes + c] * (dp[r * classes + c] - dot));
    }
  }
  return dz;
}

TEST(CategoricalCrossentropy, FusedSoftmaxGradientMatchesTheChainRule) {
  Rng rng(5);
  Tensor p = softmax(random_tensor({2, 3, 5}, rng, -2, 2));  // well inside the clip range
  CategoricalCrossentropy loss;
  ASSERT_TRUE(loss.fuses_with("softmax"));
  for (const Tensor& y :
       {one_hot({0, 4, 2, 1, 3, 3}, 5).reshaped({2, 3, 5}), random_tensor({2, 3, 5}, rng, 0, 1)}) {
    Tensor fused = loss.gradient_preactivation(p, y);
    Tensor chain = softmax_backward(p, loss.gradient(p, y));
    EXPECT_LT(testing::relative_error(as_doubles(fused), as_doubles(chain)), 1e-5);
  }
  // For one-hot targets it is (p - y) / rows.
  Tensor y = one_hot({0, 4, 2, 1, 3, 3}, 5).reshaped({2, 3, 5});
  Tensor fused = loss.gradient_preactivation(p, y);
  for (int64_t i = 0; i < p.size(); ++i) EXPECT_FLOAT_EQ(fused[i], (p[i] - y[i]) / 6.0f);
}

TEST(SparseCategoricalCrossentropy, FusedSoftmaxGradientMatchesTheChainRule) {
  Rng rng(6);
  Tensor p = softmax(random_tensor({4, 3}, rng, -2, 2));
  Tensor labels({4, 1}, {2, 0, 1, 2});
  SparseCategoricalCrossentropy loss;
  ASSERT_TRUE(loss.fuses_with("softmax"));
  Tensor fused = loss.gradient_preactivation(p, labels);
  Tensor chain = softmax_backward(p, loss.gradient(p, labels));
  EXPECT_LT(testing::relative_error(as_doubles(fused), as_doubles(chain)), 1e-5);
  Tensor y = one_hot({2, 0, 1, 2}, 3);
  for (int64_t i = 0; i < p.size(); ++i) EXPECT_FLOAT_EQ(fused[i], (p[i] - y[i]) / 4.0f);
}

TEST(BinaryCrossentropy, FusedSigmoidGradientMatchesTheChainRule) {
  Rng rng(8);
  Tensor z = random_tensor({3, 2}, rng, -3, 3);
  Tensor p(z.shape());
  for (int64_t i = 0; i < z.size(); ++i) p[i] = static_cast<float>(1 / (1 + std::exp(-z[i])));
  Tensor y = random_tensor({3, 2}, rng, 0, 1);
  BinaryCrossentropy loss;
  ASSERT_TRUE(loss.fuses_with("sigmoid"));
  EXPECT_FALSE(loss.fuses_with("softmax"));
  Tensor fused = loss.gradient_preactivation(p, y);
  Tensor dp = loss.gradient(p, y);
  Tensor chain(z.shape());
  for (int64_t i = 0; i < z.size(); ++i) chain[i] = dp[i] * p[i] * (1 - p[i]);
  EXPECT_LT(testing::relative_error(as_doubles(fused), as_doubles(chain)), 1e-5);
  for (int64_t i = 0; i < p.size(); ++i) EXPECT_FLOAT_EQ(fused[i], (p[i] - y[i]) / 6.0f);
}

TEST(Crossentropy, FusedGradientsUseTheUnclippedProbabilities) {
  // A saturated softmax: the true class has p = 1e-9, below the clip. The clipped gradient
  // would be zero; the fused one still pushes with p - y.
  Tensor p({1, 2}, {1.0f - 1e-9f, 1e-9f});
  Tensor g = CategoricalCrossentropy().gradient_preactivation(p, one_hot({1}, 2));
  EXPECT_FLOAT_EQ(g[1], 1e-9f - 1.0f);
  Tensor gs = SparseCategoricalCrossentropy().gradient_preactivation(p, Tensor({1}, {1}));
  EXPECT_FLOAT_EQ(gs[1], 1e-9f - 1.0f);
  Tensor gb = BinaryCrossentropy().gradient_preactivation(Tensor({1}, {1e-9f}), Tensor({1}, {1}));
  EXPECT_FLOAT_EQ(gb[0], 1e-9f - 1.0f);
}

TEST(Losses, FuseOnlyWhereTheyHaveAFusedGradient) {
  EXPECT_FALSE(MeanSquaredError().fuses_with("softmax"));
  EXPECT_FALSE(CategoricalCrossentropy().fuses_with("sigmoid"));
  CategoricalCrossentropy logits({.from_logits = true});
  EXPECT_FALSE(logits.fuses_with("softmax"));
  Tensor p({1, 2}, {0.5f, 0.5f});
  testing::expect_error_message([&] { logits.gradient_preactivation(p, one_hot({0}, 2)); },
                                "from_logits");
  testing::expect_error_message([&] { MeanSquaredError().gradient_preactivation(p, p); }, "mse");
}

// ---- errors ----

TEST(Losses, ShapeMismatchNamesBothShapes) {
  Tensor a({2, 3}), b({3, 2});
  for (const char* name :
       {"mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy"}) {
    SCOPED_TRACE(name);
    auto loss = make_loss(name);
    EXPECT_THROW(loss->value(a, b), ShapeError);
    testing::expect_error_message([&] { loss->gradient(a, b); }, "[2, 3]");
    testing::expect_error_message([&] { loss->value(a, b); }, "[3, 2]");
  }
  SparseCategoricalCrossentropy sparse;
  EXPECT_THROW(sparse.value(a, Tensor({3})), ShapeError);
  testing::expect_error_message(
      [&] {
        sparse.gradient(a, Tensor({2, 3}));
      },
      "[2] or [2, 1], got [2, 3]");
}

TEST(SparseCategoricalCrossentropy, RejectsBadLabelsNamingLabelAndRow) {
  SparseCategoricalCrossentropy loss;
  Tensor p({3, 4}, 0.25f);
  EXPECT_THROW(loss.value(p, Tensor({3}, {0, 4, 1})), ValueError);
  testing::expect_error_message([&] { loss.value(p, Tensor({3}, {0, 1, 4})); }, "label 4 in row 2");
  testing::expect_error_message(
      [&] {
        loss.gradient(p, Tensor({3}, {0, 1.5f, 1}));
      },
      "label 1.5 in row 1");
  testing::expect_error_message(
      [&] {
        loss.value(p, Tensor({3}, {-1, 1, 1}));
      },
      "label -1 in row 0");
  testing::expect_error_message(
      [&] {
        loss.value(p, Tensor({3}, {0, std::numeric_limits<float>::quiet_NaN(), 1}));
      },
      "in row 1");
  SparseCategoricalCrossentropy logits({.from_logits = true});
  testing::expect_error_message(
      [&] {
        logits.gradient_preactivation(p, Tensor({3}, {0, 1, 2}));
      },
      "from_logits");
  testing::expect_error_message(
      [&] {
        SparseCategoricalCrossentropy().gradient_preactivation(p, Tensor({3}, {0, 9, 2}));
      },
      "label 9 in row 1");
}

// ---- make_loss ----

TEST(MakeLoss, AcceptsShortLongAndClassNames) {
  EXPECT_EQ(make_loss("mse")->name(), "mse");
  EXPECT_EQ(make_loss("mean_squared_error")->name(), "mse");
  EXPECT_EQ(make_loss("MeanSquaredError")->name(), "mse");
  EXPECT_EQ(make_loss("mae")->name(), "mae");
  EXPECT_EQ(make_loss("mean_absolute_error")->name(), "mae");
  EXPECT_EQ(make_loss("huber")->name(), "huber");
  EXPECT_EQ(make_loss("binary_crossentropy")->name(), "binary_crossentropy");
  EXPECT_EQ(make_loss("CategoricalCrossentropy")->name(), "categorical_crossentropy");
  EXPECT_EQ(make_loss(nlohmann::json{{"type", "sparse_categorical_crossentropy"}})->name(),
            "sparse_categorical_crossentropy");
}

TEST(MakeLoss, ReadsArgumentsAndRoundTripsThroughConfig) {
  auto huber = make_loss({{"type", "huber"}, {"delta", 2.0}});
  Tensor pred({1}, {3}), target({1}, {0});
  EXPECT_DOUBLE_EQ(huber->value(pred, target), 2.0 * (3 - 1));
  EXPECT_EQ(huber->config(), (nlohmann::json{{"type", "huber"}, {"delta", 2.0}}));
  EXPECT_DOUBLE_EQ(make_loss(huber->config())->value(pred, target), 4.0);

  auto logits = make_loss({{"type", "categorical_crossentropy"}, {"from_logits", true}});
  EXPECT_FALSE(logits->fuses_with("softmax"));
  EXPECT_EQ(logits->config()["from_logits"], true);
  EXPECT_FALSE(make_loss(logits->config())->fuses_with("softmax"));
  for (const char* name :
       {"mse", "mae", "binary_crossentropy", "sparse_categorical_crossentropy"}) {
    EXPECT_EQ(make_loss(make_loss(name)->config())->name(), make_loss(name)->name());
  }
}

TEST(MakeLoss, RejectsUnknownNamesAndArguments) {
  EXPECT_THROW(make_loss("hinge"), ValueError);
  testing::expect_error_message([] { make_loss("hinge"); }, "unknown loss 'hinge'");
  testing::expect_error_message(
      [] {
        make_loss({{"type", "mse"}, {"delta", 1.0}});
      },
      "unknown argument 'delta'");
  testing::expect_error_message(
      [] {
        make_loss({{"type", "huber"}, {"from_logits", true}});
      },
      "unknown argument 'from_logits'");
  testing::expect_error_message(
      [] {
        make_loss({{"type", "binary_crossentropy"}, {"label_smoothing", 0.1}});
      },
      "unknown argument 'label_smoothing'");
  testing::expect_error_message([] { make_loss({{"type", "huber"}, {"delta", -1.0}}); }, "delta");
  testing::expect_error_message(
      [] {
        make_loss({{"type", "huber"}, {"delta", "big"}});
      },
      "'delta' must be a number");
  testing::expect_error_message(
      [] {
        make_loss({{"type", "binary_crossentropy"}, {"from_logits", 1}});
      },
      "'from_logits' must be true or false");
  testing::expect_error_message([] { make_loss(42); }, "loss: expected a name");
}

}  // namespace
}  // namespace nnkit
