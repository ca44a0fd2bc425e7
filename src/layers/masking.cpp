#include "nnkit/layers/masking.h"

#include <algorithm>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

std::unique_ptr<Layer> Masking::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Masking", config);
  MaskingOptions o;
  o.mask_value = args.get_float("mask_value", o.mask_value);
  args.finish();
  return std::make_unique<Masking>(o);
}

Shape Masking::build(const Shape& input, Rng& /*rng*/) {
  if (input.size() != 2) {
    throw ShapeError(fmt::format(
        "Masking: expected sequences [N, T, F] (batch, steps, features), got per-sample shape {}",
        detail::batch_shape_string(input)));
  }
  built_ = true;
  input_shape_ = input;
  output_shape_ = input;
  return output_shape_;
}

Tensor Masking::compute_mask(const Tensor& x) const {
  detail::check_built("Masking", built_);
  detail::check_batch_shape("Masking", input_shape_, x);
  const int64_t rows = x.dim(0) * x.dim(1), features = x.dim(2);
  Tensor mask = Tensor::uninitialized({x.dim(0), x.dim(1)});
  for (int64_t r = 0; r < rows; ++r) {
    const float* step = x.data() + r * features;
    const bool padding =
        std::all_of(step, step + features, [&](float v) { return v == options_.mask_value; });
    mask[r] = padding ? 0.0f : 1.0f;
  }
  return mask;
}

Tensor Masking::propagate_mask(const Tensor& x, Tensor mask) {
  Tensor own = compute_mask(x);
  if (mask.shape() == own.shape()) {
    for (int64_t i = 0; i < own.size(); ++i) own[i] *= mask[i];
  }
  return own;
}

Tensor Masking::forward(const Tensor& x, Mode /*mode*/) {
  mask_ = compute_mask(x);
  Tensor y = x;
  const int64_t rows = mask_.size(), features = x.dim(2);
  for (int64_t r = 0; r < rows; ++r) {
    if (mask_[r] == 0.0f) std::fill_n(y.data() + r * features, features, 0.0f);
  }
  return y;
}

Tensor Masking::backward(const Tensor& dy) {
  detail::check_forward_cache("Masking", !mask_.empty());
  detail::check_gradient_shape("Masking", {mask_.dim(0), mask_.dim(1), input_shape_[1]}, dy);
  Tensor dx = dy;
  const int64_t rows = mask_.size(), features = dy.dim(2);
  for (int64_t r = 0; r < rows; ++r) {
    if (mask_[r] == 0.0f) std::fill_n(dx.data() + r * features, features, 0.0f);
  }
  return dx;
}

nlohmann::json Masking::config() const {
  return {{"type", "Masking"}, {"mask_value", detail::json_float(options_.mask_value)}};
}

}  // namespace nnkit
