// PReLU: y = x for x > 0, alpha·x otherwise, with a learned alpha per input element (Keras's
// default) or shared along shared_axes. Saved as "weight", PyTorch's name for alpha.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// PReLU({.shared_axes = {2, 3}}) learns one alpha per channel of (N, C, H, W) images.
struct PReLUOptions {
  // Axes (the batch counted as 0, negative from the end) along which one alpha is shared.
  std::vector<int64_t> shared_axes = {};
  Initializer alpha_initializer = {.name = "zeros"};  // Keras's default: starts as ReLU
};

class PReLU final : public Layer {
 public:
  explicit PReLU(PReLUOptions options = {});
  // {"type": "PReLU", "alpha_initializer": "zeros", "shared_axes": [2, 3]}.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "PReLU"; }
  // alpha's shape is the input's with each shared axis set to 1 (Keras's layout). Throws
  // ShapeError when a shared axis is the batch or outside the input.
  Shape build(const Shape& input, Rng& rng) override;
  // Train keeps x.
  Tensor forward(const Tensor& x, Mode mode) override;
  // Adds Σ dy ⊙ x over the negative inputs sharing each alpha into weight's grad.
  Tensor backward(const Tensor& dy) override;
  std::vector<Param*> params() override { return {&alpha_}; }  // "weight"
  nlohmann::json config() const override;

 private:
  // alpha per element of a sample, expanded along the shared axes.
  std::vector<float> expanded_alpha() const;

  PReLUOptions options_;
  bool built_ = false;
  Param alpha_{"weight", Tensor(), Tensor()};
  std::vector<int64_t> alpha_index_;  // per element of a sample: its alpha
  // Forward cache (Train only).
  Tensor x_;
};

}  // namespace nnkit
