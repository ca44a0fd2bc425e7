#include "nnkit/layers/up_sampling2d.h"

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

UpSampling2D::UpSampling2D(UpSampling2DOptions options) : options_(std::move(options)) {
  if (options_.size[0] <= 0 || options_.size[1] <= 0) {
    throw ValueError(fmt::format("{}: size must be positive", who()));
  }
  const std::string interpolation = detail::to_lower(options_.interpolation);
  if (interpolation != "nearest") {
    throw ValueError(
        fmt::format("{}: interpolation must be 'nearest', got '{}' (bilinear is not "
                    "implemented; follow with a Conv2D to smooth)",
                    who(), options_.interpolation));
  }
  options_.interpolation = interpolation;
}

std::unique_ptr<Layer> UpSampling2D::from_config(const nlohmann::json& config) {
  detail::SpecReader args("UpSampling2D", config);
  UpSampling2DOptions o;
  o.size = args.get_optional_int_pair("size").value_or(o.size);
  o.interpolation = args.get_string("interpolation", o.interpolation);
  args.finish();
  return std::make_unique<UpSampling2D>(std::move(o));
}

std::string UpSampling2D::who() const {
  return fmt::format("UpSampling2D(size=[{}, {}])", options_.size[0], options_.size[1]);
}

Shape UpSampling2D::build(const Shape& input, Rng& /*rng*/) {
  if (input.size() != 3) {
    throw ShapeError(fmt::format("{}: expected images [N, C, H, W] (channels first), got input {}",
                                 who(), detail::batch_shape_string(input)));
  }
  built_ = true;
  input_shape_ = input;
  output_shape_ = {input[0], input[1] * options_.size[0], input[2] * options_.size[1]};
  return output_shape_;
}

Tensor UpSampling2D::forward(const Tensor& x, Mode /*mode*/) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who(), input_shape_, x);
  const int64_t planes = x.dim(0) * input_shape_[0];
  const int64_t h = input_shape_[1], w = input_shape_[2];
  const int64_t sh = options_.size[0], sw = options_.size[1], ow = w * sw;
  Tensor y =
      Tensor::uninitialized({x.dim(0), output_shape_[0], output_shape_[1], output_shape_[2]});
  const float* src = x.data();
  float* dst = y.data();
#pragma omp parallel for schedule(static) if (planes * h * w * sh * sw > (1 << 16))
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < h; ++i) {
      const float* in = src + (p * h + i) * w;
      float* first = dst + (p * h + i) * sh * ow;  // the first of the sh copies of row i
      for (int64_t j = 0; j < w; ++j)
        for (int64_t b = 0; b < sw; ++b) first[j * sw + b] = in[j];
      for (int64_t r = 1; r < sh; ++r) std::copy(first, first + ow, first + r * ow);
    }
  }
  return y;
}

Tensor UpSampling2D::backward(const Tensor& dy) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who() + " (backward)", output_shape_, dy);
  const int64_t planes = dy.dim(0) * input_shape_[0];
  const int64_t h = input_shape_[1], w = input_shape_[2];
  const int64_t sh = options_.size[0], sw = options_.size[1], ow = w * sw;
  Tensor dx = Tensor::uninitialized({dy.dim(0), input_shape_[0], h, w});
  const float* src = dy.data();
  float* dst = dx.data();
#pragma omp parallel for schedule(static) if (planes * h * w * sh * sw > (1 << 16))
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < h; ++i) {
      float* out = dst + (p * h + i) * w;
      for (int64_t j = 0; j < w; ++j) out[j] = 0.0f;
      for (int64_t r = 0; r < sh; ++r) {
        const float* row = src + ((p * h + i) * sh + r) * ow;
        for (int64_t j = 0; j < w; ++j)
          for (int64_t b = 0; b < sw; ++b) out[j] += row[j * sw + b];
      }
    }
  }
  return dx;
}

nlohmann::json UpSampling2D::config() const {
  return {
      {"type", "UpSampling2D"}, {"size", options_.size}, {"interpolation", options_.interpolation}};
}

}  // namespace nnkit
