// UpSampling2D: repeats every row of images [N, C, H, W] size[0] times and every column size[1]
// times (nearest-neighbour upsampling), the usual way a convolutional decoder grows its maps.
// Keras's arguments ("size", "interpolation"); PyTorch's nn.Upsample(scale_factor=size,
// mode="nearest") computes the same for integer factors. No parameters.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "nnkit/layers/layer.h"

namespace nnkit {

// UpSampling2D({.size = {2, 2}}). Pairs are [height, width].
struct UpSampling2DOptions {
  std::array<int64_t, 2> size = {2, 2};   // each > 0
  std::string interpolation = "nearest";  // only "nearest" ("bilinear" is not implemented)
};

class UpSampling2D final : public Layer {
 public:
  // Throws ValueError on a non-positive size or an interpolation other than "nearest".
  explicit UpSampling2D(UpSampling2DOptions options = {});
  // {"type": "UpSampling2D", "size": 2 | [sh, sw], "interpolation": "nearest"}; size defaults to
  // [2, 2]. Throws ValueError on unknown or ill-typed arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "UpSampling2D"; }
  // [C, H, W] -> [C, H·size[0], W·size[1]]. Throws ShapeError unless the input is [C, H, W].
  Shape build(const Shape& input, Rng& rng) override;
  // y[n, c, i, j] = x[n, c, i / size[0], j / size[1]] (integer division). Keeps nothing.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dx[n, c, i, j] = the sum of dy over the size[0]×size[1] block that copied x[n, c, i, j].
  // Works after any forward.
  Tensor backward(const Tensor& dy) override;
  // {"type", "size": [sh, sw], "interpolation"}.
  nlohmann::json config() const override;

  const UpSampling2DOptions& options() const { return options_; }

 private:
  std::string who() const;

  UpSampling2DOptions options_;
  bool built_ = false;
};

}  // namespace nnkit
