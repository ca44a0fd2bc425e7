// Activation: applies an activation function on its own, as Keras's Activation layer; also what
// Keras's ReLU, LeakyReLU, ELU and Softmax layers become when read from a spec. The C++ class
// is ActivationLayer because nnkit::Activation names the function (kernels/activations.h);
// its type() is Keras's "Activation".
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "nnkit/kernels/activations.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// ActivationLayer({.activation = "leaky_relu", .alpha = 0.1f})
struct ActivationOptions {
  std::string activation = "linear";  // any name activation_from_name() takes
  std::optional<float> alpha = {};    // leaky_relu's slope (0.3) or elu's alpha (1.0) only
};

class ActivationLayer final : public Layer {
 public:
  // Throws ValueError on an unknown activation or an alpha it does not take.
  explicit ActivationLayer(ActivationOptions options);
  // {"type": "Activation", "activation": "relu"}, and Keras's layers {"type": "ReLU"},
  // {"type": "LeakyReLU", "alpha" (or Keras 3's "negative_slope"): 0.3},
  // {"type": "ELU", "alpha": 1.0}, {"type": "Softmax", "axis": -1}. Throws ValueError.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Activation"; }
  // Any input shape; the output has the same. Softmax normalises over the last axis.
  Shape build(const Shape& input, Rng& rng) override;
  // Train keeps the output, and the input where the derivative needs it.
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  // Always {"type": "Activation", "activation": ..., "alpha" where the activation has one}.
  nlohmann::json config() const override;

  // "softmax" or "sigmoid" when that is the activation; backward_preactivation(dz) then
  // returns dz itself, the pre-activation being this layer's input.
  std::string output_activation() const override;
  Tensor backward_preactivation(const Tensor& dz) override;

  Activation activation() const { return activation_; }
  float alpha() const { return alpha_; }

 private:
  std::string who() const;

  Activation activation_;
  float alpha_;
  bool built_ = false;
  // Forward cache (Train only).
  bool cached_ = false;
  Tensor x_;  // when activation_backward_reads_input()
  Tensor y_;
};

}  // namespace nnkit
