// MaxPooling2D and AveragePooling2D: a window slides over each channel of images
// [N, C, H, W] and each output is the maximum or the mean of the window's cells. Arguments,
// defaults and the "same" padding rule are Keras's: out = ceil(in / stride), the padding split
// with the extra cell at the bottom/right. Max pooling pads with −inf (padding never wins);
// average pooling divides by the number of real cells in the window (Keras; PyTorch's
// count_include_pad=False).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnkit/kernels/pool.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// MaxPooling2D({.pool_size = {3, 3}, .strides = {{2, 2}}, .padding = "same"})
struct Pooling2DOptions {
  std::array<int64_t, 2> pool_size = {2, 2};           // [rows, columns], > 0
  std::optional<std::array<int64_t, 2>> strides = {};  // > 0; unset: pool_size (Keras's None)
  std::string padding = "valid";                       // "valid" or "same"
};

// What MaxPooling2D and AveragePooling2D share: arguments, shapes, config.
class Pooling2D : public Layer {
 public:
  // Input [C, H, W] -> [C, out_h, out_w]. Throws ShapeError unless the input is [C, H, W], or
  // when "valid" padding and a pool larger than the image leave no output.
  Shape build(const Shape& input, Rng& rng) override;
  // {"type", "pool_size": [ph, pw], "strides": [sh, sw], "padding"}: pairs always, the strides
  // resolved, as Keras writes them.
  nlohmann::json config() const override;

  const std::array<int64_t, 2>& pool_size() const { return options_.pool_size; }
  const std::array<int64_t, 2>& strides() const { return strides_; }
  const std::string& padding() const { return options_.padding; }

 protected:
  // Throws ValueError (naming `type`) on a size or stride <= 0 or an unknown padding.
  Pooling2D(const std::string& type, Pooling2DOptions options);
  // Reads {"pool_size": 2 | [ph, pw], "strides": null | s | [sh, sw], "padding"}.
  static Pooling2DOptions options_from_config(const std::string& type,
                                              const nlohmann::json& config);
  // "MaxPooling2D(pool_size=[2, 2], strides=[2, 2], padding=valid)"
  std::string who() const;
  // The kernels' geometry for a batch of `batch` images of the built shape.
  Pool2dGeometry geometry(int64_t batch) const;
  // Checks build and x's shape: [N, ...input].
  void check_input(const Tensor& x) const;
  Shape batch_output_shape(int64_t batch) const;

  Pooling2DOptions options_;
  std::array<int64_t, 2> strides_;
  bool built_ = false;
  PoolAxis rows_, cols_;  // by build()
};

class MaxPooling2D final : public Pooling2D {
 public:
  explicit MaxPooling2D(Pooling2DOptions options = {});
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "MaxPooling2D"; }
  // x: [N, C, H, W] -> [N, C, out_h, out_w]. Train keeps, per output, the index of the winning
  // cell in its channel (the first maximum in row-major window order on ties, as PyTorch).
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: [N, C, out_h, out_w] -> dx [N, C, H, W]: each dy goes to its window's winning cell
  // (adding up where overlapping windows share one). Needs a training forward.
  Tensor backward(const Tensor& dy) override;

 private:
  // Forward cache (Train only).
  bool cached_ = false;
  int64_t batch_ = 0;
  std::vector<int32_t> argmax_;  // [N, C, out_h, out_w]
};

class AveragePooling2D final : public Pooling2D {
 public:
  explicit AveragePooling2D(Pooling2DOptions options = {});
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "AveragePooling2D"; }
  // x: [N, C, H, W] -> [N, C, out_h, out_w]. Keeps nothing.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: [N, C, out_h, out_w] -> dx [N, C, H, W]: each dy spread evenly over its window's real
  // cells. Needs only dy's shape, so it works after any forward.
  Tensor backward(const Tensor& dy) override;
};

}  // namespace nnkit
