// BatchNormalization: normalises each channel (feature) by its batch mean and variance in
// training, by running estimates of them at inference, then scales by gamma and shifts by beta.
// Arguments and momentum's meaning are Keras's; tensor names and the unbiased running variance
// are PyTorch's, so weights move between the two:
//   running = momentum·running + (1 − momentum)·batch statistic  (PyTorch's momentum = 1 − this)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// BatchNormalization({.momentum = 0.9f})
struct BatchNormalizationOptions {
  // The channel axis, counting the batch as axis 0 (negative counts from the end). Unset: the
  // features for (N, F), the last axis for sequences (N, T, F) as Keras, and the channels, axis
  // 1, for images (N, C, H, W) and volumes (N, C, D, H, W) in PyTorch's layout.
  std::optional<int64_t> axis = {};
  float momentum = 0.99f;  // in [0, 1]
  float epsilon = 1e-3f;   // > 0, added to the variance
  bool center = true;      // learn beta ("bias")
  bool scale = true;       // learn gamma ("weight")
  Initializer beta_initializer = {.name = "zeros"};
  Initializer gamma_initializer = {.name = "ones"};
  Initializer moving_mean_initializer = {.name = "zeros"};
  Initializer moving_variance_initializer = {.name = "ones"};
};

class BatchNormalization final : public Layer {
 public:
  // Throws ValueError on momentum outside [0, 1] or epsilon <= 0.
  explicit BatchNormalization(BatchNormalizationOptions options = {});
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "BatchNormalization"; }
  // Any input shape with the channel axis in it; the output has the same. Throws ShapeError
  // when axis is the batch or outside the input.
  Shape build(const Shape& input, Rng& rng) override;
  // Train: normalises with the batch mean and biased variance, updates the running mean and
  // the running variance (with the unbiased batch variance, n/(n−1), as PyTorch), and keeps
  // the normalised input and 1/σ per channel. Infer: normalises with the running statistics.
  Tensor forward(const Tensor& x, Mode mode) override;
  // After a training forward: the full gradient, through the batch mean and variance; adds
  // Σ dy ⊙ x̂ into weight's grad and Σ dy into bias's grad. After an inference forward: dx
  // through the fixed affine map of the running statistics, adding nothing to the grads (a
  // frozen layer, as Keras 3 runs a non-trainable BatchNormalization).
  Tensor backward(const Tensor& dy) override;
  // "weight" (gamma) if scale, "bias" (beta) if center, "running_mean", "running_var"; all
  // [channels]. The running statistics have trainable = false and no grad.
  std::vector<Param*> params() override;
  nlohmann::json config() const override;

 private:
  struct Layout {
    int64_t outer, channels, inner;  // x is [outer, channels, inner] in memory
  };
  std::string who() const;
  Layout layout_of(const Tensor& x) const;

  BatchNormalizationOptions options_;
  int64_t axis_ = 0;  // resolved by build(), batch counted
  Param gamma_{"weight", Tensor(), Tensor()};
  Param beta_{"bias", Tensor(), Tensor()};
  Param running_mean_{"running_mean", Tensor(), Tensor(), false};
  Param running_var_{"running_var", Tensor(), Tensor(), false};
  // Forward cache.
  enum class Cached { None, Train, Infer } cached_ = Cached::None;
  Shape x_shape_;
  Tensor x_hat_;                // Train: (x − μ) / σ
  std::vector<float> inv_std_;  // Train: 1/σ per channel, σ = √(batch var + ε)
};

}  // namespace nnkit
