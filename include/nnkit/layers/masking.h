// Masking: marks the padding of sequences of different lengths in one batch, as Keras's
// Masking. A step whose features all equal mask_value is padding: its mask is 0, its output
// zeros; the recurrent layers after it skip it (the state passes through, no gradient), so a
// short sequence padded to the batch's length trains and predicts as if it were alone.
#pragma once

#include <memory>
#include <string>

#include "nnkit/layers/layer.h"

namespace nnkit {

struct MaskingOptions {
  float mask_value = 0.0f;
};

class Masking final : public Layer {
 public:
  explicit Masking(MaskingOptions options = {}) : options_(options) {}
  // {"type": "Masking", "mask_value": 0.0}.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Masking"; }
  // input: [steps, features] -> the same. Throws ShapeError for other ranks.
  Shape build(const Shape& input, Rng& rng) override;
  // x: [N, T, F] -> x with padding steps set to 0. Keeps the mask for backward().
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy -> dy with padding steps set to 0 (nothing of them reaches the output).
  Tensor backward(const Tensor& dy) override;
  // The mask of x, [N, T]: 0 where every feature of a step equals mask_value, else 1; any
  // mask given from before is combined with it (a step is data only if both say so).
  Tensor propagate_mask(const Tensor& x, Tensor mask) override;
  nlohmann::json config() const override;

  // The mask [N, T] of x alone.
  Tensor compute_mask(const Tensor& x) const;

 private:
  MaskingOptions options_;
  bool built_ = false;
  Tensor mask_;  // [N, T] of the last forward
};

}  // namespace nnkit
