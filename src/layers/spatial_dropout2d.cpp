#include "nnkit/layers/spatial_dropout2d.h"

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/pool.h"
#include "spec_reader.h"

namespace nnkit {

// Inverted dropout, as Dropout (see dropout.cpp for why): the scaling happens in training, so
// that inference needs nothing.

SpatialDropout2D::SpatialDropout2D(SpatialDropout2DOptions options) : options_(options) {
  if (!(options_.rate >= 0.0f && options_.rate < 1.0f)) {
    throw ValueError(
        fmt::format("SpatialDropout2D: rate must be in [0, 1), got {}", options_.rate));
  }
}

std::unique_ptr<Layer> SpatialDropout2D::from_config(const nlohmann::json& config) {
  detail::SpecReader args("SpatialDropout2D", config);
  args.require("rate");
  SpatialDropout2DOptions o;
  o.rate = args.get_float("rate", o.rate);
  args.finish();
  return std::make_unique<SpatialDropout2D>(o);
}

std::string SpatialDropout2D::who() const {
  return fmt::format("SpatialDropout2D(rate={})", options_.rate);
}

Shape SpatialDropout2D::build(const Shape& input, Rng& rng) {
  if (input.size() != 3) {
    throw ShapeError(fmt::format(
        "{}: expected images [N, C, H, W] (channels first), got input {}; use Dropout for other "
        "shapes",
        who(), detail::batch_shape_string(input)));
  }
  rng_ = rng.split();
  built_ = true;
  cached_ = false;
  mask_.clear();
  input_shape_ = output_shape_ = input;
  return output_shape_;
}

Tensor SpatialDropout2D::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who(), input_shape_, x);
  cached_ = mode == Mode::Train;
  if (mode == Mode::Infer) {
    mask_.clear();
    return x;
  }
  const float keep_scale = 1.0f / (1.0f - options_.rate);
  const int64_t planes = x.dim(0) * input_shape_[0];
  mask_.resize(planes);
  for (float& m : mask_) m = rng_.uniform() < options_.rate ? 0.0f : keep_scale;
  x_shape_ = x.shape();
  Tensor y = Tensor::uninitialized(x.shape());
  scale_planes(planes, input_shape_[1] * input_shape_[2], mask_.data(), x.data(), y.data());
  return y;
}

Tensor SpatialDropout2D::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  detail::check_gradient_shape(who(), x_shape_, dy);
  Tensor dx = Tensor::uninitialized(dy.shape());
  scale_planes(static_cast<int64_t>(mask_.size()), input_shape_[1] * input_shape_[2], mask_.data(),
               dy.data(), dx.data());
  return dx;
}

nlohmann::json SpatialDropout2D::config() const {
  return {{"type", "SpatialDropout2D"}, {"rate", detail::json_float(options_.rate)}};
}

}  // namespace nnkit
