// Loss functions by Keras name. A loss is a pure function of (prediction, target): value()
// and gradient() keep no state. Reductions follow Keras and PyTorch: mse, mae, huber and
// binary_crossentropy average over the batch and every output; categorical cross-entropies
// sum over the classes (last axis) and average over the rest.
#pragma once

#include <memory>
#include <string>

#include "nlohmann/json.hpp"
#include "nnkit/tensor.h"

namespace nnkit {

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string name() const = 0;
  // Mean loss. pred and target have the same shape, except sparse_categorical_crossentropy,
  // whose target holds integer class labels: pred [..., classes], target [...] or [..., 1].
  // Throws ShapeError on mismatched shapes, ValueError on bad labels.
  virtual double value(const Tensor& pred, const Tensor& target) const = 0;
  // d value / d pred, same shape as pred.
  virtual Tensor gradient(const Tensor& pred, const Tensor& target) const = 0;
  // True when, for pred = activation(z), this loss has a fused, numerically stable gradient
  // with respect to z (softmax + categorical cross-entropy: p - y, scaled by the reduction).
  virtual bool fuses_with(const std::string& /*activation*/) const { return false; }
  // d value / d z, where pred = activation(z) and fuses_with(activation) is true.
  // Throws ValueError for a loss that fuses with nothing (or was built with from_logits).
  virtual Tensor gradient_preactivation(const Tensor& pred, const Tensor& target) const;
  // Keras-style config with "type"; make_loss(config()) rebuilds the loss.
  virtual nlohmann::json config() const = 0;
};

class MeanSquaredError final : public Loss { /* mse */
 public:
  std::string name() const override { return "mse"; }
  double value(const Tensor& pred, const Tensor& target) const override;
  Tensor gradient(const Tensor& pred, const Tensor& target) const override;
  nlohmann::json config() const override { return "mse"; }
};

class MeanAbsoluteError final : public Loss { /* mae; gradient sign(pred - target), 0 at 0 */
 public:
  std::string name() const override { return "mae"; }
  double value(const Tensor& pred, const Tensor& target) const override;
  Tensor gradient(const Tensor& pred, const Tensor& target) const override;
  nlohmann::json config() const override { return "mae"; }
};

class Huber final : public Loss {  // 0.5·e² for |e| <= delta, delta·(|e| - 0.5·delta) beyond
 public:
  explicit Huber(float delta = 1.0f) : delta_(delta) {}
  std::string name() const override { return "huber"; }
  double value(const Tensor& pred, const Tensor& target) const override;
  Tensor gradient(const Tensor& pred, const Tensor& target) const override;
  nlohmann::json config() const override;

 private:
  float delta_;
};

// Probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does; the loss is flat where a
// probability is clipped, so gradient() is zero there (as TensorFlow's clip_by_value), while
// gradient_preactivation() uses the unclipped p and keeps pushing a saturated output.
// Categorical probabilities are taken as given (Keras also rescales each row to sum 1,
// which changes nothing after a softmax). With from_logits the prediction is a logit and
// the loss is computed stably (log-sum-exp, softplus).
struct CrossentropyOptions {
  bool from_logits = false;
};

class BinaryCrossentropy final : public Loss {
 public:
  explicit BinaryCrossentropy(CrossentropyOptions options = {}) : options_(options) {}
  std::string name() const override { return "binary_crossentropy"; }
  double value(const Tensor& pred, const Tensor& target) const override;
  Tensor gradient(const Tensor& pred, const Tensor& target) const override;
  bool fuses_with(const std::string& activation) const override;  // "sigmoid", unless from_logits
  Tensor gradient_preactivation(const Tensor& pred, const Tensor& target) const override;
  nlohmann::json config() const override;

 private:
  CrossentropyOptions options_;
};

class CategoricalCrossentropy final : public Loss {
 public:
  explicit CategoricalCrossentropy(CrossentropyOptions options = {}) : options_(options) {}
  std::string name() const override { return "categorical_crossentropy"; }
  double value(const Tensor& pred, const Tensor& target) const override;
  Tensor gradient(const Tensor& pred, const Tensor& target) const override;
  bool fuses_with(const std::string& activation) const override;  // "softmax", unless from_logits
  Tensor gradient_preactivation(const Tensor& pred, const Tensor& target) const override;
  nlohmann::json config() const override;

 private:
  CrossentropyOptions options_;
};

class SparseCategoricalCrossentropy final : public Loss {
 public:
  explicit SparseCategoricalCrossentropy(CrossentropyOptions options = {}) : options_(options) {}
  std::string name() const override { return "sparse_categorical_crossentropy"; }
  double value(const Tensor& pred, const Tensor& target) const override;
  Tensor gradient(const Tensor& pred, const Tensor& target) const override;
  bool fuses_with(const std::string& activation) const override;  // "softmax", unless from_logits
  Tensor gradient_preactivation(const Tensor& pred, const Tensor& target) const override;
  nlohmann::json config() const override;

 private:
  CrossentropyOptions options_;
};

// "mse", "mean_squared_error", {"type": "huber", "delta": 2.0},
// {"type": "categorical_crossentropy", "from_logits": true}. Throws ValueError naming
// unknown losses and arguments.
std::unique_ptr<Loss> make_loss(const nlohmann::json& spec);

}  // namespace nnkit
