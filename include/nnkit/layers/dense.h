// Dense: the fully connected layer, y = f(x·Wᵀ + b), with the activation f fused in.
// Weights in PyTorch's layout: "weight" [units, in], "bias" [units]. The last input axis is
// the features; leading axes are batch, so on a sequence [N, T, F] Dense applies the same
// weights at every time step, as Keras does.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/kernels/activations.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// Keras's arguments and defaults: Dense({.units = 128, .activation = "relu"}).
struct DenseOptions {
  int64_t units = 0;                  // required, > 0
  std::string activation = "linear";  // any name activation_from_name() takes
  std::optional<float> alpha = {};    // leaky_relu's slope (0.3) or elu's alpha (1.0) only
  bool use_bias = true;
  Initializer kernel_initializer = {.name = "glorot_uniform"};
  Initializer bias_initializer = {.name = "zeros"};
};

class Dense final : public Layer {
 public:
  // Throws ValueError on units <= 0, an unknown activation, or alpha for an activation
  // without one.
  explicit Dense(DenseOptions options);
  // {"type": "Dense", "units": 128, ...}; throws ValueError on unknown or ill-typed arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Dense"; }
  // input: [..., in] -> [..., units]. Draws the weight, then the bias, from rng.
  Shape build(const Shape& input, Rng& rng) override;
  // x: [batch, ..., in] -> [batch, ..., units]. Train keeps x, and the pre-activation z and the
  // output y where the activation's derivative needs them.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: [batch, ..., units] -> dx: [batch, ..., in]. Adds dzᵀ·x into weight's grad and Σ dz into
  // bias's grad, where dz = dy ⊙ f'(z).
  Tensor backward(const Tensor& dy) override;
  std::vector<Param*> params() override;  // "weight" [units, in], then "bias" [units]
  nlohmann::json config() const override;

  // "softmax" or "sigmoid" when that is the activation, for the loss's fused gradient.
  std::string output_activation() const override;
  // Like backward() with dz, the gradient with respect to z, given: skips f'.
  Tensor backward_preactivation(const Tensor& dz) override;

  const DenseOptions& options() const { return options_; }

 private:
  std::string who() const;
  Tensor linear_backward(const Tensor& dz);
  void clear_cache();

  DenseOptions options_;
  Activation activation_;
  float alpha_;
  int64_t in_features_ = 0;
  Param weight_{"weight", Tensor(), Tensor()};
  Param bias_{"bias", Tensor(), Tensor()};
  // Forward cache (Train only).
  Tensor x_;  // input
  Tensor z_;  // pre-activation, when activation_backward_reads_input()
  Tensor y_;  // output, unless the activation is linear
};

}  // namespace nnkit
