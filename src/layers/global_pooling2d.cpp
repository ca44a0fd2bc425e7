#include "nnkit/layers/global_pooling2d.h"

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/pool.h"
#include "spec_reader.h"

namespace nnkit {

// ---- GlobalPooling2D ----

GlobalPooling2DOptions GlobalPooling2D::options_from_config(const std::string& type,
                                                            const nlohmann::json& config) {
  detail::SpecReader args(type, config);
  GlobalPooling2DOptions o;
  o.keepdims = args.get_bool("keepdims", o.keepdims);
  args.finish();
  return o;
}

std::string GlobalPooling2D::who() const {
  return fmt::format("{}(keepdims={})", type(), options_.keepdims);
}

Shape GlobalPooling2D::build(const Shape& input, Rng& /*rng*/) {
  if (input.size() != 3) {
    throw ShapeError(fmt::format("{}: expected images [N, C, H, W] (channels first), got input {}",
                                 who(), detail::batch_shape_string(input)));
  }
  built_ = true;
  input_shape_ = input;
  output_shape_ = options_.keepdims ? Shape{input[0], 1, 1} : Shape{input[0]};
  return output_shape_;
}

nlohmann::json GlobalPooling2D::config() const {
  return {{"type", type()}, {"keepdims", options_.keepdims}};
}

void GlobalPooling2D::check_input(const Tensor& x) const {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who(), input_shape_, x);
}

Shape GlobalPooling2D::batch_shape(int64_t batch, const Shape& per_sample) const {
  Shape shape = per_sample;
  shape.insert(shape.begin(), batch);
  return shape;
}

// ---- GlobalAveragePooling2D ----

std::unique_ptr<Layer> GlobalAveragePooling2D::from_config(const nlohmann::json& config) {
  return std::make_unique<GlobalAveragePooling2D>(
      options_from_config("GlobalAveragePooling2D", config));
}

Tensor GlobalAveragePooling2D::forward(const Tensor& x, Mode /*mode*/) {
  check_input(x);
  const int64_t batch = x.dim(0);
  Tensor y = Tensor::uninitialized(batch_shape(batch, output_shape_));
  global_avg_pool_forward(batch * channels(), plane_size(), x.data(), y.data());
  return y;
}

Tensor GlobalAveragePooling2D::backward(const Tensor& dy) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who() + " (backward)", output_shape_, dy);
  const int64_t batch = dy.dim(0);
  Tensor dx = Tensor::uninitialized(batch_shape(batch, input_shape_));
  global_avg_pool_backward(batch * channels(), plane_size(), dy.data(), dx.data());
  return dx;
}

// ---- GlobalMaxPooling2D ----

std::unique_ptr<Layer> GlobalMaxPooling2D::from_config(const nlohmann::json& config) {
  return std::make_unique<GlobalMaxPooling2D>(options_from_config("GlobalMaxPooling2D", config));
}

Tensor GlobalMaxPooling2D::forward(const Tensor& x, Mode mode) {
  check_input(x);
  const int64_t batch = x.dim(0);
  Tensor y = Tensor::uninitialized(batch_shape(batch, output_shape_));
  cached_ = mode == Mode::Train;
  if (cached_) {
    batch_ = batch;
    argmax_.resize(y.size());
    global_max_pool_forward(batch * channels(), plane_size(), x.data(), y.data(), argmax_.data());
  } else {
    argmax_.clear();
    global_max_pool_forward(batch * channels(), plane_size(), x.data(), y.data(), nullptr);
  }
  return y;
}

Tensor GlobalMaxPooling2D::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  detail::check_gradient_shape(who(), batch_shape(batch_, output_shape_), dy);
  Tensor dx = Tensor::uninitialized(batch_shape(batch_, input_shape_));
  global_max_pool_backward(batch_ * channels(), plane_size(), dy.data(), argmax_.data(), dx.data());
  return dx;
}

}  // namespace nnkit
