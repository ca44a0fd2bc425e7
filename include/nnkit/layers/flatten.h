// Flatten: [N, d1, d2, ...] -> [N, d1·d2·...], in row-major order (for images (N, C, H, W):
// channel by channel, as PyTorch's flatten).
#pragma once

#include <memory>
#include <string>

#include "nnkit/layers/layer.h"

namespace nnkit {

class Flatten final : public Layer {
 public:
  Flatten() = default;
  // {"type": "Flatten"}; takes no arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Flatten"; }
  // input -> [product of input] (a per-sample scalar [] becomes [1]).
  Shape build(const Shape& input, Rng& rng) override;
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: [N, features] -> dx: [N, ...input]. Keeps nothing: any dy of the output's shape works.
  Tensor backward(const Tensor& dy) override;
  nlohmann::json config() const override { return {{"type", "Flatten"}}; }

 private:
  bool built_ = false;
};

}  // namespace nnkit
