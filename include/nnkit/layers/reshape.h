// Reshape: [N, ...input] -> [N, ...target_shape], the values in the same row-major order.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/layers/layer.h"

namespace nnkit {

// Reshape({.target_shape = {7, -1}})
struct ReshapeOptions {
  // Without the batch dimension; at most one -1, inferred from the input's size.
  std::vector<int64_t> target_shape = {};
};

class Reshape final : public Layer {
 public:
  // Throws ValueError on more than one -1 or a dimension below -1 or 0.
  explicit Reshape(ReshapeOptions options);
  // {"type": "Reshape", "target_shape": [7, -1]}; target_shape is required.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Reshape"; }
  // Resolves the -1; throws ShapeError when the sizes cannot match.
  Shape build(const Shape& input, Rng& rng) override;
  Tensor forward(const Tensor& x, Mode mode) override;
  // Keeps nothing: any dy of the output's shape works.
  Tensor backward(const Tensor& dy) override;
  // target_shape as given, -1 included.
  nlohmann::json config() const override;

 private:
  std::string who() const;

  ReshapeOptions options_;
  bool built_ = false;
};

}  // namespace nnkit
