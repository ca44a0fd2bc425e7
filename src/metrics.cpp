#include "nnkit/metrics.h"

#include <cctype>
#include <cmath>
#include <string>
#include <utility>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {

// Every metric keeps a sum over elements (or rows) and their count, both in double, so the
// result after several update() calls equals the metric of all the samples at once.
class SumMetric : public Metric {
 public:
  explicit SumMetric(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  void reset() override {
    sum_ = 0;
    count_ = 0;
  }
  double result() const override { return count_ == 0 ? 0.0 : sum_ / count_; }

 protected:
  void check_same_size(const Tensor& pred, const Tensor& target) const {
    // [N] targets for [N, 1] predictions are common; the element counts must agree.
    if (pred.size() != target.size()) {
      throw ShapeError(fmt::format("metric {}: prediction {} and target {} differ in size", name_,
                                   shape_to_string(pred.shape()), shape_to_string(target.shape())));
    }
  }

  std::string name_;
  double sum_ = 0;
  double count_ = 0;
};

// Fraction of elements where (pred > 0.5) equals the target, as Keras's binary_accuracy
// (targets are 0 or 1).
class BinaryAccuracy final : public SumMetric {
 public:
  using SumMetric::SumMetric;
  void update(const Tensor& pred, const Tensor& target) override {
    check_same_size(pred, target);
    int64_t correct = 0;
    for (int64_t i = 0; i < pred.size(); ++i) {
      float predicted = pred[i] > 0.5f ? 1.0f : 0.0f;
      correct += predicted == target[i] ? 1 : 0;
    }
    sum_ += static_cast<double>(correct);
    count_ += static_cast<double>(pred.size());
  }
};

// Index of the largest value of a row; the first one on ties (as argmax in NumPy and TF).
int64_t argmax(const float* row, int64_t classes) {
  int64_t best = 0;
  for (int64_t c = 1; c < classes; ++c) {
    if (row[c] > row[best]) best = c;
  }
  return best;
}

int64_t class_count(const std::string& who, const Tensor& pred) {
  if (pred.rank() == 0 || pred.empty()) {
    throw ShapeError(fmt::format("metric {}: prediction {} needs a last axis of classes", who,
                                 shape_to_string(pred.shape())));
  }
  return pred.dim(-1);
}

// Fraction of rows where argmax(pred) == argmax(target), over every row of [..., classes].
class CategoricalAccuracy final : public SumMetric {
 public:
  using SumMetric::SumMetric;
  void update(const Tensor& pred, const Tensor& target) override {
    int64_t classes = class_count(name_, pred);
    if (pred.shape() != target.shape()) {
      throw ShapeError(
          fmt::format("metric {}: prediction {} and one-hot target {} must have the "
                      "same shape",
                      name_, shape_to_string(pred.shape()), shape_to_string(target.shape())));
    }
    int64_t rows = pred.size() / classes;
    int64_t correct = 0;
    for (int64_t r = 0; r < rows; ++r) {
      correct +=
          argmax(pred.data() + r * classes, classes) == argmax(target.data() + r * classes, classes)
              ? 1
              : 0;
    }
    sum_ += static_cast<double>(correct);
    count_ += static_cast<double>(rows);
  }
};

// Fraction of rows where argmax(pred) equals the integer label; a label that is no class
// index never matches.
class SparseCategoricalAccuracy final : public SumMetric {
 public:
  using SumMetric::SumMetric;
  void update(const Tensor& pred, const Tensor& target) override {
    int64_t classes = class_count(name_, pred);
    int64_t rows = pred.size() / classes;
    if (target.size() != rows) {
      throw ShapeError(fmt::format(
          "metric {}: prediction {} needs one class label per row ({} labels), got target {}",
          name_, shape_to_string(pred.shape()), rows, shape_to_string(target.shape())));
    }
    int64_t correct = 0;
    for (int64_t r = 0; r < rows; ++r) {
      correct += static_cast<float>(argmax(pred.data() + r * classes, classes)) == target[r];
    }
    sum_ += static_cast<double>(correct);
    count_ += static_cast<double>(rows);
  }
};

// Mean of |pred - target| (or its square) over every element.
class ErrorMetric : public SumMetric {
 public:
  ErrorMetric(std::string name, bool squared) : SumMetric(std::move(name)), squared_(squared) {}
  void update(const Tensor& pred, const Tensor& target) override {
    check_same_size(pred, target);
    const float* p = pred.data();
    const float* t = target.data();
    const int64_t n = pred.size();
    double sum = 0;
    if (squared_) {
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < n; ++i) {
        double e = static_cast<double>(p[i]) - t[i];
        sum += e * e;
      }
    } else {
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < n; ++i) sum += std::fabs(static_cast<double>(p[i]) - t[i]);
    }
    sum_ += sum;
    count_ += static_cast<double>(n);
  }

 private:
  bool squared_;
};

// The root of the accumulated mean squared error, not a mean of per-batch roots.
class RootMeanSquaredError final : public ErrorMetric {
 public:
  explicit RootMeanSquaredError(std::string name) : ErrorMetric(std::move(name), true) {}
  double result() const override { return std::sqrt(ErrorMetric::result()); }
};

// Lower case without underscores: "MeanAbsoluteError", "mean_absolute_error" and
// "meanabsoluteerror" are the same key.
std::string key_of(const std::string& name) {
  std::string out;
  for (char ch : name) {
    if (ch == '_') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return out;
}

}  // namespace

std::unique_ptr<Metric> make_metric(const std::string& name, const std::string& loss_name,
                                    int64_t output_features) {
  const std::string key = key_of(name);
  if (key == "accuracy" || key == "acc") {
    const std::string loss = key_of(loss_name);
    if (loss == "binarycrossentropy") return std::make_unique<BinaryAccuracy>(name);
    if (loss == "sparsecategoricalcrossentropy") {
      return std::make_unique<SparseCategoricalAccuracy>(name);
    }
    if (output_features == 1) return std::make_unique<BinaryAccuracy>(name);
    return std::make_unique<CategoricalAccuracy>(name);
  }
  if (key == "binaryaccuracy") return std::make_unique<BinaryAccuracy>("binary_accuracy");
  if (key == "categoricalaccuracy") {
    return std::make_unique<CategoricalAccuracy>("categorical_accuracy");
  }
  if (key == "sparsecategoricalaccuracy") {
    return std::make_unique<SparseCategoricalAccuracy>("sparse_categorical_accuracy");
  }
  if (key == "mae") return std::make_unique<ErrorMetric>("mae", false);
  if (key == "meanabsoluteerror") {
    return std::make_unique<ErrorMetric>("mean_absolute_error", false);
  }
  if (key == "mse") return std::make_unique<ErrorMetric>("mse", true);
  if (key == "meansquarederror") return std::make_unique<ErrorMetric>("mean_squared_error", true);
  if (key == "rmse") return std::make_unique<RootMeanSquaredError>("rmse");
  if (key == "rootmeansquarederror") {
    return std::make_unique<RootMeanSquaredError>("root_mean_squared_error");
  }
  throw ValueError(fmt::format(
      "unknown metric '{}'; expected one of accuracy, binary_accuracy, categorical_accuracy, "
      "sparse_categorical_accuracy, mae (mean_absolute_error), mse (mean_squared_error), rmse "
      "(root_mean_squared_error)",
      name));
}

}  // namespace nnkit
