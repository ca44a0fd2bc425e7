#include "nnkit/losses.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;
// Keras's backend epsilon: probabilities are clipped to [kEpsilon, 1 - kEpsilon] so that
// log() stays finite. Where a probability is clipped the loss is flat in it, so its
// gradient is zero there (as TensorFlow's clip_by_value gives).
constexpr double kEpsilon = 1e-7;

bool clipped(double p) { return p < kEpsilon || p > 1.0 - kEpsilon; }
double clip_probability(double p) { return std::clamp(p, kEpsilon, 1.0 - kEpsilon); }

// Loss values are summed in double, serially, in a fixed order: the reported loss is then
// the same bits for the same inputs whatever the thread count.

void check_same_shape(const std::string& who, const Tensor& pred, const Tensor& target) {
  if (pred.shape() != target.shape()) {
    throw ShapeError(fmt::format("{}: prediction {} and target {} must have the same shape", who,
                                 shape_to_string(pred.shape()), shape_to_string(target.shape())));
  }
  if (pred.empty()) {
    throw ShapeError(fmt::format("{}: empty prediction {}", who, shape_to_string(pred.shape())));
  }
}

// Rows and classes of a [..., classes] prediction.
struct ClassLayout {
  int64_t rows;
  int64_t classes;
};

ClassLayout class_layout(const std::string& who, const Tensor& pred) {
  if (pred.rank() == 0 || pred.empty()) {
    throw ShapeError(fmt::format("{}: prediction {} needs a last axis of classes", who,
                                 shape_to_string(pred.shape())));
  }
  int64_t classes = pred.dim(-1);
  return {pred.size() / classes, classes};
}

// log Σ exp(z) over one row, shifted by the maximum so no exp() overflows.
double log_sum_exp(const float* z, int64_t classes) {
  double m = *std::max_element(z, z + classes);
  double s = 0;
  for (int64_t c = 0; c < classes; ++c) s += std::exp(z[c] - m);
  return m + std::log(s);
}

// σ(z) without overflow for either sign of z.
double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  double e = std::exp(z);
  return e / (1.0 + e);
}

// Softplus-based binary cross-entropy of a logit: -(y·log σ(z) + (1-y)·log(1-σ(z)))
// = max(z, 0) - z·y + log(1 + exp(-|z|)), finite for any z.
double binary_crossentropy_logit(double z, double y) {
  return std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::fabs(z)));
}

// Sparse labels: target holds one class index per row, as floats that must be integers
// in [0, classes). Checks the shape, then every label.
std::vector<int64_t> sparse_labels(const std::string& who, const Tensor& pred,
                                   const Tensor& target) {
  ClassLayout layout = class_layout(who, pred);
  Shape rows_shape(pred.shape().begin(), pred.shape().end() - 1);
  Shape rows_shape_1 = rows_shape;
  rows_shape_1.push_back(1);
  if (target.shape() != rows_shape && target.shape() != rows_shape_1) {
    throw ShapeError(fmt::format(
        "{}: prediction {} needs a target of class labels shaped {} or {}, got {}; for one-hot "
        "targets use categorical_crossentropy",
        who, shape_to_string(pred.shape()), shape_to_string(rows_shape),
        shape_to_string(rows_shape_1), shape_to_string(target.shape())));
  }
  std::vector<int64_t> labels(static_cast<std::size_t>(layout.rows));
  for (int64_t r = 0; r < layout.rows; ++r) {
    float label = target[r];
    // The comparison is false for NaN, which is then rejected too.
    bool ok =
        label >= 0.0f && label < static_cast<float>(layout.classes) && label == std::floor(label);
    if (!ok) {
      throw ValueError(
          fmt::format("{}: label {} in row {} is not a class index (an integer in [0, {}))", who,
                      label, r, layout.classes));
    }
    labels[static_cast<std::size_t>(r)] = static_cast<int64_t>(label);
  }
  return labels;
}

std::string loss_who(const std::string& name, const CrossentropyOptions& options) {
  return options.from_logits ? name + "(from_logits=true)" : name;
}

void check_fusable(const Loss& loss, const CrossentropyOptions& options) {
  if (options.from_logits) {
    throw ValueError(fmt::format(
        "{}(from_logits=true) takes logits already: it has no fused gradient with an output "
        "activation; use gradient()",
        loss.name()));
  }
}

}  // namespace

Tensor Loss::gradient_preactivation(const Tensor& /*pred*/, const Tensor& /*target*/) const {
  throw ValueError(fmt::format("{} has no fused gradient with an output activation", name()));
}

// ---- mse --------------------------------------------------------------------------------

double MeanSquaredError::value(const Tensor& pred, const Tensor& target) const {
  check_same_shape(name(), pred, target);
  const float* p = pred.data();
  const float* t = target.data();
  const int64_t n = pred.size();
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    double e = static_cast<double>(p[i]) - t[i];
    sum += e * e;
  }
  return sum / static_cast<double>(n);
}

// d/dp mean((p - t)²) = 2·(p - t) / n.
Tensor MeanSquaredError::gradient(const Tensor& pred, const Tensor& target) const {
  check_same_shape(name(), pred, target);
  Tensor grad = Tensor::uninitialized(pred.shape());
  const float* __restrict p = pred.data();
  const float* __restrict t = target.data();
  float* __restrict g = grad.data();
  const int64_t n = pred.size();
  const float scale = static_cast<float>(2.0 / static_cast<double>(n));
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) g[i] = scale * (p[i] - t[i]);
  return grad;
}

// ---- mae --------------------------------------------------------------------------------

double MeanAbsoluteError::value(const Tensor& pred, const Tensor& target) const {
  check_same_shape(name(), pred, target);
  const float* p = pred.data();
  const float* t = target.data();
  const int64_t n = pred.size();
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += std::fabs(static_cast<double>(p[i]) - t[i]);
  return sum / static_cast<double>(n);
}

// d/dp mean|p - t| = sign(p - t) / n, 0 where p == t.
Tensor MeanAbsoluteError::gradient(const Tensor& pred, const Tensor& target) const {
  check_same_shape(name(), pred, target);
  Tensor grad = Tensor::uninitialized(pred.shape());
  const float* __restrict p = pred.data();
  const float* __restrict t = target.data();
  float* __restrict g = grad.data();
  const int64_t n = pred.size();
  const float scale = static_cast<float>(1.0 / static_cast<double>(n));
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) {
    float e = p[i] - t[i];
    g[i] = e > 0.0f ? scale : (e < 0.0f ? -scale : 0.0f);
  }
  return grad;
}

// ---- huber ------------------------------------------------------------------------------

double Huber::value(const Tensor& pred, const Tensor& target) const {
  check_same_shape(name(), pred, target);
  const float* p = pred.data();
  const float* t = target.data();
  const int64_t n = pred.size();
  const double delta = delta_;
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    double a = std::fabs(static_cast<double>(p[i]) - t[i]);
    sum += a <= delta ? 0.5 * a * a : delta * (a - 0.5 * delta);
  }
  return sum / static_cast<double>(n);
}

// e / n inside [-delta, delta], delta·sign(e) / n beyond.
Tensor Huber::gradient(const Tensor& pred, const Tensor& target) const {
  check_same_shape(name(), pred, target);
  Tensor grad = Tensor::uninitialized(pred.shape());
  const float* __restrict p = pred.data();
  const float* __restrict t = target.data();
  float* __restrict g = grad.data();
  const int64_t n = pred.size();
  const float scale = static_cast<float>(1.0 / static_cast<double>(n));
  const float delta = delta_;
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) {
    float e = std::clamp(p[i] - t[i], -delta, delta);
    g[i] = scale * e;
  }
  return grad;
}

nlohmann::json Huber::config() const {
  return {{"type", "huber"}, {"delta", detail::json_float(delta_)}};
}

// ---- binary_crossentropy ----------------------------------------------------------------

double BinaryCrossentropy::value(const Tensor& pred, const Tensor& target) const {
  check_same_shape(loss_who(name(), options_), pred, target);
  const float* p = pred.data();
  const float* y = target.data();
  const int64_t n = pred.size();
  double sum = 0;
  if (options_.from_logits) {
    for (int64_t i = 0; i < n; ++i) sum += binary_crossentropy_logit(p[i], y[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      double pc = clip_probability(p[i]);
      sum -= y[i] * std::log(pc) + (1.0 - y[i]) * std::log(1.0 - pc);
    }
  }
  return sum / static_cast<double>(n);
}

// Probabilities: (-y/p + (1-y)/(1-p)) / n, zero where p was clipped.
// Logits: (σ(z) - y) / n.
Tensor BinaryCrossentropy::gradient(const Tensor& pred, const Tensor& target) const {
  check_same_shape(loss_who(name(), options_), pred, target);
  Tensor grad = Tensor::uninitialized(pred.shape());
  const float* __restrict p = pred.data();
  const float* __restrict y = target.data();
  float* __restrict g = grad.data();
  const int64_t n = pred.size();
  const double scale = 1.0 / static_cast<double>(n);
  if (options_.from_logits) {
#pragma omp parallel for if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) g[i] = static_cast<float>(scale * (sigmoid(p[i]) - y[i]));
  } else {
#pragma omp parallel for if (n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) {
      double pi = p[i];
      g[i] =
          clipped(pi) ? 0.0f : static_cast<float>(scale * (-y[i] / pi + (1.0 - y[i]) / (1.0 - pi)));
    }
  }
  return grad;
}

bool BinaryCrossentropy::fuses_with(const std::string& activation) const {
  return !options_.from_logits && activation == "sigmoid";
}

// For p = σ(z): d/dz = (p - y) / n, from the unclipped p, so a saturated sigmoid still
// gets its full gradient.
Tensor BinaryCrossentropy::gradient_preactivation(const Tensor& pred, const Tensor& target) const {
  check_fusable(*this, options_);
  check_same_shape(name(), pred, target);
  Tensor grad = Tensor::uninitialized(pred.shape());
  const float* __restrict p = pred.data();
  const float* __restrict y = target.data();
  float* __restrict g = grad.data();
  const int64_t n = pred.size();
  const float scale = static_cast<float>(1.0 / static_cast<double>(n));
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) g[i] = scale * (p[i] - y[i]);
  return grad;
}

nlohmann::json BinaryCrossentropy::config() const {
  return {{"type", name()}, {"from_logits", options_.from_logits}};
}

// ---- categorical_crossentropy -----------------------------------------------------------

double CategoricalCrossentropy::value(const Tensor& pred, const Tensor& target) const {
  const std::string who = loss_who(name(), options_);
  check_same_shape(who, pred, target);
  ClassLayout layout = class_layout(who, pred);
  double sum = 0;
  for (int64_t r = 0; r < layout.rows; ++r) {
    const float* p = pred.data() + r * layout.classes;
    const float* y = target.data() + r * layout.classes;
    if (options_.from_logits) {
      // -Σ y·log softmax(z) = Σ y·(lse - z).
      double lse = log_sum_exp(p, layout.classes);
      for (int64_t c = 0; c < layout.classes; ++c) sum += y[c] * (lse - p[c]);
    } else {
      for (int64_t c = 0; c < layout.classes; ++c) {
        if (y[c] != 0.0f) sum -= y[c] * std::log(clip_probability(p[c]));
      }
    }
  }
  return sum / static_cast<double>(layout.rows);
}

// Probabilities: -y/p / rows, zero where p was clipped.
// Logits: (softmax(z)·Σy - y) / rows (p - y for target rows that sum to 1).
Tensor CategoricalCrossentropy::gradient(const Tensor& pred, const Tensor& target) const {
  const std::string who = loss_who(name(), options_);
  check_same_shape(who, pred, target);
  ClassLayout layout = class_layout(who, pred);
  Tensor grad = Tensor::uninitialized(pred.shape());
  const double scale = 1.0 / static_cast<double>(layout.rows);
  const int64_t classes = layout.classes;
#pragma omp parallel for if (pred.size() > kParallelThreshold)
  for (int64_t r = 0; r < layout.rows; ++r) {
    const float* p = pred.data() + r * classes;
    const float* y = target.data() + r * classes;
    float* g = grad.data() + r * classes;
    if (options_.from_logits) {
      double lse = log_sum_exp(p, classes);
      double y_sum = 0;
      for (int64_t c = 0; c < classes; ++c) y_sum += y[c];
      for (int64_t c = 0; c < classes; ++c) {
        g[c] = static_cast<float>(scale * (std::exp(p[c] - lse) * y_sum - y[c]));
      }
    } else {
      for (int64_t c = 0; c < classes; ++c) {
        double pc = p[c];
        g[c] = clipped(pc) ? 0.0f : static_cast<float>(-scale * y[c] / pc);
      }
    }
  }
  return grad;
}

bool CategoricalCrossentropy::fuses_with(const std::string& activation) const {
  return !options_.from_logits && activation == "softmax";
}

// For p = softmax(z): d/dz = (p·Σy - y) / rows, which is (p - y) / rows for one-hot or
// smoothed targets; from the unclipped p.
Tensor CategoricalCrossentropy::gradient_preactivation(const Tensor& pred,
                                                       const Tensor& target) const {
  check_fusable(*this, options_);
  check_same_shape(name(), pred, target);
  ClassLayout layout = class_layout(name(), pred);
  Tensor grad = Tensor::uninitialized(pred.shape());
  const float scale = static_cast<float>(1.0 / static_cast<double>(layout.rows));
  const int64_t classes = layout.classes;
#pragma omp parallel for if (pred.size() > kParallelThreshold)
  for (int64_t r = 0; r < layout.rows; ++r) {
    const float* __restrict p = pred.data() + r * classes;
    const float* __restrict y = target.data() + r * classes;
    float* __restrict g = grad.data() + r * classes;
    float y_sum = 0;
    for (int64_t c = 0; c < classes; ++c) y_sum += y[c];
#pragma omp simd
    for (int64_t c = 0; c < classes; ++c) g[c] = scale * (p[c] * y_sum - y[c]);
  }
  return grad;
}

nlohmann::json CategoricalCrossentropy::config() const {
  return {{"type", name()}, {"from_logits", options_.from_logits}};
}

// ---- sparse_categorical_crossentropy ----------------------------------------------------

double SparseCategoricalCrossentropy::value(const Tensor& pred, const Tensor& target) const {
  const std::string who = loss_who(name(), options_);
  std::vector<int64_t> labels = sparse_labels(who, pred, target);
  ClassLayout layout = class_layout(who, pred);
  double sum = 0;
  for (int64_t r = 0; r < layout.rows; ++r) {
    const float* p = pred.data() + r * layout.classes;
    int64_t label = labels[static_cast<std::size_t>(r)];
    if (options_.from_logits) {
      sum += log_sum_exp(p, layout.classes) - p[label];
    } else {
      sum -= std::log(clip_probability(p[label]));
    }
  }
  return sum / static_cast<double>(layout.rows);
}

// Probabilities: -1/p[label] / rows at the label (zero if clipped), 0 elsewhere.
// Logits: (softmax(z) - onehot(label)) / rows.
Tensor SparseCategoricalCrossentropy::gradient(const Tensor& pred, const Tensor& target) const {
  const std::string who = loss_who(name(), options_);
  std::vector<int64_t> labels = sparse_labels(who, pred, target);
  ClassLayout layout = class_layout(who, pred);
  Tensor grad(pred.shape());
  const double scale = 1.0 / static_cast<double>(layout.rows);
  const int64_t classes = layout.classes;
#pragma omp parallel for if (pred.size() > kParallelThreshold)
  for (int64_t r = 0; r < layout.rows; ++r) {
    const float* p = pred.data() + r * classes;
    float* g = grad.data() + r * classes;
    int64_t label = labels[static_cast<std::size_t>(r)];
    if (options_.from_logits) {
      double lse = log_sum_exp(p, classes);
      for (int64_t c = 0; c < classes; ++c) {
        g[c] = static_cast<float>(scale * std::exp(p[c] - lse));
      }
      g[label] -= static_cast<float>(scale);
    } else {
      double pl = p[label];
      g[label] = clipped(pl) ? 0.0f : static_cast<float>(-scale / pl);
    }
  }
  return grad;
}

bool SparseCategoricalCrossentropy::fuses_with(const std::string& activation) const {
  return !options_.from_logits && activation == "softmax";
}

// For p = softmax(z): d/dz = (p - onehot(label)) / rows, from the unclipped p.
Tensor SparseCategoricalCrossentropy::gradient_preactivation(const Tensor& pred,
                                                             const Tensor& target) const {
  check_fusable(*this, options_);
  std::vector<int64_t> labels = sparse_labels(name(), pred, target);
  ClassLayout layout = class_layout(name(), pred);
  Tensor grad = Tensor::uninitialized(pred.shape());
  const float scale = static_cast<float>(1.0 / static_cast<double>(layout.rows));
  const int64_t classes = layout.classes;
#pragma omp parallel for if (pred.size() > kParallelThreshold)
  for (int64_t r = 0; r < layout.rows; ++r) {
    const float* __restrict p = pred.data() + r * classes;
    float* __restrict g = grad.data() + r * classes;
#pragma omp simd
    for (int64_t c = 0; c < classes; ++c) g[c] = scale * p[c];
    g[labels[static_cast<std::size_t>(r)]] -= scale;
  }
  return grad;
}

nlohmann::json SparseCategoricalCrossentropy::config() const {
  return {{"type", name()}, {"from_logits", options_.from_logits}};
}

// ---- make_loss --------------------------------------------------------------------------

std::unique_ptr<Loss> make_loss(const nlohmann::json& spec) {
  const std::string given = detail::spec_type("loss", spec);
  const std::string type = detail::to_snake_case(given);
  const std::string who = fmt::format("loss '{}'", given);
  // A name alone is a spec without arguments.
  const nlohmann::json arguments = spec.is_object() ? spec : nlohmann::json::object();
  detail::SpecReader args(who, arguments);

  if (type == "mse" || type == "mean_squared_error") {
    args.finish();
    return std::make_unique<MeanSquaredError>();
  }
  if (type == "mae" || type == "mean_absolute_error") {
    args.finish();
    return std::make_unique<MeanAbsoluteError>();
  }
  if (type == "huber" || type == "huber_loss") {
    float delta = args.get_float("delta", 1.0f);
    args.finish();
    if (!(delta > 0.0f) || !std::isfinite(delta)) {
      throw ValueError(fmt::format("{}: delta must be a positive number, got {}", who, delta));
    }
    return std::make_unique<Huber>(delta);
  }
  if (type == "binary_crossentropy" || type == "categorical_crossentropy" ||
      type == "sparse_categorical_crossentropy") {
    CrossentropyOptions options{.from_logits = args.get_bool("from_logits", false)};
    args.finish();
    if (type == "binary_crossentropy") return std::make_unique<BinaryCrossentropy>(options);
    if (type == "categorical_crossentropy") {
      return std::make_unique<CategoricalCrossentropy>(options);
    }
    return std::make_unique<SparseCategoricalCrossentropy>(options);
  }
  throw ValueError(fmt::format(
      "unknown loss '{}'; expected one of mse (mean_squared_error), mae (mean_absolute_error), "
      "huber, binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy",
      given));
}

}  // namespace nnkit
