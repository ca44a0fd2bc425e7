// Maxout (Goodfellow et al., 2013): an affine map to units·pieces values, then the maximum over
// each unit's pieces. Parameters as a Dense of units·pieces outputs: "weight"
// [units·pieces, in], "bias" [units·pieces], the pieces of unit u at rows u·pieces + p.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/layers/dense.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// Maxout({.units = 64, .pieces = 3})
struct MaxoutOptions {
  int64_t units = 0;   // required, > 0
  int64_t pieces = 2;  // > 0; affine pieces per unit
  bool use_bias = true;
  Initializer kernel_initializer = {.name = "glorot_uniform"};
  Initializer bias_initializer = {.name = "zeros"};
};

class Maxout final : public Layer {
 public:
  // Throws ValueError on units or pieces <= 0.
  explicit Maxout(MaxoutOptions options);
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Maxout"; }
  // input: [..., in] -> [..., units], leading axes batch as for Dense.
  Shape build(const Shape& input, Rng& rng) override;
  // Train keeps x (in the inner Dense) and which piece won for each output.
  Tensor forward(const Tensor& x, Mode mode) override;
  // Routes each dy to its winning piece, then backpropagates through the affine map, adding
  // into weight's and bias's grads.
  Tensor backward(const Tensor& dy) override;
  std::vector<Param*> params() override { return affine_.params(); }
  nlohmann::json config() const override;

 private:
  std::string who() const;

  MaxoutOptions options_;
  Dense affine_;  // units·pieces outputs, linear
  // Forward cache (Train only): the winning piece per output element.
  std::vector<int32_t> argmax_;
  Shape y_shape_;
};

}  // namespace nnkit
