// GlobalAveragePooling2D and GlobalMaxPooling2D: the mean or the maximum of each channel of
// images [N, C, H, W], giving [N, C], or [N, C, 1, 1] with keepdims (Keras's argument).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nnkit/layers/layer.h"

namespace nnkit {

// GlobalAveragePooling2D({.keepdims = true})
struct GlobalPooling2DOptions {
  bool keepdims = false;  // keep H and W as 1s
};

// What the two global poolings share: arguments, shapes, config.
class GlobalPooling2D : public Layer {
 public:
  // Input [C, H, W] -> [C] (or [C, 1, 1] with keepdims). Throws ShapeError unless the input is
  // [C, H, W].
  Shape build(const Shape& input, Rng& rng) override;
  // {"type", "keepdims"}.
  nlohmann::json config() const override;

  bool keepdims() const { return options_.keepdims; }

 protected:
  explicit GlobalPooling2D(GlobalPooling2DOptions options) : options_(options) {}
  static GlobalPooling2DOptions options_from_config(const std::string& type,
                                                    const nlohmann::json& config);
  // "GlobalMaxPooling2D(keepdims=false)"
  std::string who() const;
  void check_input(const Tensor& x) const;
  Shape batch_shape(int64_t batch, const Shape& per_sample) const;
  int64_t channels() const { return input_shape_[0]; }
  int64_t plane_size() const { return input_shape_[1] * input_shape_[2]; }

  GlobalPooling2DOptions options_;
  bool built_ = false;
};

class GlobalAveragePooling2D final : public GlobalPooling2D {
 public:
  explicit GlobalAveragePooling2D(GlobalPooling2DOptions options = {}) : GlobalPooling2D(options) {}
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "GlobalAveragePooling2D"; }
  // x: [N, C, H, W] -> [N, C] (or [N, C, 1, 1]): the mean of each channel. Keeps nothing.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy -> dx [N, C, H, W] = dy / (H·W) over each channel. Works after any forward.
  Tensor backward(const Tensor& dy) override;
};

class GlobalMaxPooling2D final : public GlobalPooling2D {
 public:
  explicit GlobalMaxPooling2D(GlobalPooling2DOptions options = {}) : GlobalPooling2D(options) {}
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "GlobalMaxPooling2D"; }
  // x: [N, C, H, W] -> [N, C] (or [N, C, 1, 1]): the maximum of each channel. Train keeps the
  // winning cell of each channel (the first maximum on ties).
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy -> dx [N, C, H, W]: each dy goes to its channel's winning cell, zeros elsewhere. Needs
  // a training forward.
  Tensor backward(const Tensor& dy) override;

 private:
  // Forward cache (Train only).
  bool cached_ = false;
  int64_t batch_ = 0;
  std::vector<int32_t> argmax_;  // [N, C]
};

}  // namespace nnkit
