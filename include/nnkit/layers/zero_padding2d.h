// ZeroPadding2D: adds rows of zeros above and below, and columns of zeros left and right, of
// each channel of images [N, C, H, W]. Keras's argument: "padding" is an integer (every side),
// a pair [rows, columns] (top and bottom, left and right) or [[top, bottom], [left, right]].
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nnkit/layers/layer.h"

namespace nnkit {

// ZeroPadding2D({.top = 1, .bottom = 1, .left = 2, .right = 2}); each >= 0.
struct ZeroPadding2DOptions {
  int64_t top = 1, bottom = 1, left = 1, right = 1;
};

class ZeroPadding2D final : public Layer {
 public:
  // Throws ValueError on a negative padding.
  explicit ZeroPadding2D(ZeroPadding2DOptions options = {});
  // {"type": "ZeroPadding2D", "padding": 1 | [ph, pw] | [[top, bottom], [left, right]]};
  // padding defaults to 1.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "ZeroPadding2D"; }
  // [C, H, W] -> [C, top + H + bottom, left + W + right]. Throws ShapeError unless the input is
  // [C, H, W].
  Shape build(const Shape& input, Rng& rng) override;
  // Keeps nothing.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dx = the interior of dy (the padding's gradient is dropped). Works after any forward.
  Tensor backward(const Tensor& dy) override;
  // {"type", "padding": [[top, bottom], [left, right]]}, the full form, as Keras writes it.
  nlohmann::json config() const override;

  const ZeroPadding2DOptions& options() const { return options_; }

 private:
  std::string who() const;

  ZeroPadding2DOptions options_;
  bool built_ = false;
};

}  // namespace nnkit
