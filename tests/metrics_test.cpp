#include "nnkit/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

double evaluate(Metric& metric, const Tensor& pred, const Tensor& target) {
  metric.reset();
  metric.update(pred, target);
  return metric.result();
}

TEST(Metrics, BinaryAccuracyThresholdsAtOneHalf) {
  auto m = make_metric("binary_accuracy", "mse", 1);
  EXPECT_EQ(m->name(), "binary_accuracy");
  // Predicted classes 1, 0, 0 (0.5 is not above the threshold), 1; two match.
  Tensor pred({4, 1}, {0.7f, 0.2f, 0.5f, 0.51f});
  Tensor target({4, 1}, {1, 1, 0, 0});
  EXPECT_DOUBLE_EQ(evaluate(*m, pred, target), 0.5);
  // A [N] target for an [N, 1] prediction is accepted.
  EXPECT_DOUBLE_EQ(evaluate(*m, pred, Tensor({4}, {1, 0, 0, 1})), 1.0);
  // Several outputs per sample: every element counts.
  EXPECT_DOUBLE_EQ(
      evaluate(*m, Tensor({2, 2}, {0.9f, 0.1f, 0.9f, 0.9f}), Tensor({2, 2}, {1, 0, 1, 0})), 0.75);
}

TEST(Metrics, CategoricalAccuracyComparesArgmaxes) {
  auto m = make_metric("categorical_accuracy", "mse", 3);
  Tensor pred({3, 3}, {0.1f, 0.8f, 0.1f, 0.5f, 0.2f, 0.3f, 0.2f, 0.2f, 0.6f});
  Tensor target({3, 3}, {0, 1, 0, 0, 0, 1, 0, 0, 1});
  EXPECT_NEAR(evaluate(*m, pred, target), 2.0 / 3.0, 1e-12);
  EXPECT_THROW(m->update(pred, Tensor({3, 2})), ShapeError);
}

TEST(Metrics, SparseCategoricalAccuracyComparesArgmaxWithTheLabel) {
  auto m = make_metric("sparse_categorical_accuracy", "mse", 3);
  Tensor pred({3, 3}, {0.1f, 0.8f, 0.1f, 0.5f, 0.2f, 0.3f, 0.2f, 0.2f, 0.6f});
  EXPECT_NEAR(evaluate(*m, pred, Tensor({3}, {1, 2, 2})), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(evaluate(*m, pred, Tensor({3, 1}, {1, 0, 2})), 1.0, 1e-12);
  try {
    m->update(pred, Tensor({2}));
    FAIL() << "no throw";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[3, 3]"), std::string::npos) << e.what();
  }
}

TEST(Metrics, ErrorMetricsByHand) {
  Tensor pred({2, 2}, {1, 2, 3, 4}), target({2, 2}, {1, 0, 1, 1});  // errors 0, 2, 2, 3
  auto mae = make_metric("mae", "mse", 2);
  auto mse = make_metric("mse", "mse", 2);
  auto rmse = make_metric("rmse", "mse", 2);
  EXPECT_DOUBLE_EQ(evaluate(*mae, pred, target), 7.0 / 4);
  EXPECT_DOUBLE_EQ(evaluate(*mse, pred, target), 17.0 / 4);
  EXPECT_DOUBLE_EQ(evaluate(*rmse, pred, target), std::sqrt(17.0 / 4));
  EXPECT_THROW(mae->update(pred, Tensor({3})), ShapeError);
}

TEST(Metrics, AccumulatedOverBatchesEqualsTheMetricOverAllSamples) {
  Rng rng(21);
  Tensor pred = testing::random_tensor({10, 3}, rng, 0, 1);
  Tensor target = testing::random_tensor({10, 3}, rng, 0, 1);
  Tensor one_hot({10, 3});
  Tensor labels({10});
  for (int r = 0; r < 10; ++r) {
    int label = static_cast<int>(rng.below(3));
    labels[r] = static_cast<float>(label);
    one_hot[r * 3 + label] = 1;
    for (int c = 0; c < 3; ++c) target[r * 3 + c] = target[r * 3 + c] > 0.5f ? 1.0f : 0.0f;
  }
  struct Case {
    const char* name;
    const Tensor& target;
  };
  for (const Case& c : {Case{"mae", target}, Case{"mse", target}, Case{"rmse", target},
                        Case{"binary_accuracy", target}, Case{"categorical_accuracy", one_hot},
                        Case{"sparse_categorical_accuracy", labels}}) {
    SCOPED_TRACE(c.name);
    auto whole = make_metric(c.name, "mse", 3);
    double all_at_once = evaluate(*whole, pred, c.target);
    auto batched = make_metric(c.name, "mse", 3);
    batched->reset();
    // Uneven batches: 4, 4, 2 rows; rmse must not be a mean of per-batch roots.
    for (int64_t begin : {0, 4, 8}) {
      int64_t end = std::min<int64_t>(begin + 4, 10);
      batched->update(pred.slice_rows(begin, end), c.target.slice_rows(begin, end));
    }
    EXPECT_NEAR(batched->result(), all_at_once, 1e-12);
    batched->reset();
    EXPECT_EQ(batched->result(), 0.0);
  }
}

TEST(Metrics, AccuracyIsResolvedFromTheLossAndOutputSize) {
  Tensor pred({2, 1}, {0.7f, 0.2f});
  // binary_crossentropy, or a single output: binary accuracy.
  auto binary = make_metric("accuracy", "binary_crossentropy", 1);
  EXPECT_EQ(binary->name(), "accuracy");
  EXPECT_DOUBLE_EQ(evaluate(*binary, pred, Tensor({2, 1}, {1, 0})), 1.0);
  auto single = make_metric("accuracy", "mse", 1);
  EXPECT_DOUBLE_EQ(evaluate(*single, pred, Tensor({2, 1}, {1, 1})), 0.5);
  // Multi-label binary_crossentropy stays binary (element-wise).
  auto multi = make_metric("accuracy", "binary_crossentropy", 2);
  EXPECT_DOUBLE_EQ(evaluate(*multi, Tensor({1, 2}, {0.9f, 0.8f}), Tensor({1, 2}, {1, 0})), 0.5);
  // sparse_categorical_crossentropy: labels.
  Tensor probs({2, 3}, {0.1f, 0.8f, 0.1f, 0.5f, 0.2f, 0.3f});
  auto sparse = make_metric("accuracy", "sparse_categorical_crossentropy", 3);
  EXPECT_EQ(sparse->name(), "accuracy");
  EXPECT_DOUBLE_EQ(evaluate(*sparse, probs, Tensor({2}, {1, 0})), 1.0);
  // Otherwise categorical: one-hot targets.
  auto categorical = make_metric("acc", "categorical_crossentropy", 3);
  EXPECT_DOUBLE_EQ(evaluate(*categorical, probs, Tensor({2, 3}, {0, 1, 0, 0, 0, 1})), 0.5);
}

TEST(Metrics, AcceptsLongAndClassNames) {
  EXPECT_EQ(make_metric("mean_absolute_error", "mse", 1)->name(), "mean_absolute_error");
  EXPECT_EQ(make_metric("MeanSquaredError", "mse", 1)->name(), "mean_squared_error");
  EXPECT_EQ(make_metric("root_mean_squared_error", "mse", 1)->name(), "root_mean_squared_error");
  EXPECT_EQ(make_metric("CategoricalAccuracy", "mse", 3)->name(), "categorical_accuracy");
}

TEST(Metrics, RejectsUnknownNames) {
  try {
    make_metric("f1_score", "mse", 1);
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown metric 'f1_score'"), std::string::npos);
  }
}

}  // namespace
}  // namespace nnkit
