#include "nnkit/layers/flatten.h"

#include "layer_util.h"
#include "spec_reader.h"

namespace nnkit {

std::unique_ptr<Layer> Flatten::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Flatten", config);
  args.finish();
  return std::make_unique<Flatten>();
}

Shape Flatten::build(const Shape& input, Rng& /*rng*/) {
  built_ = true;
  input_shape_ = input;
  output_shape_ = {shape_size(input)};
  return output_shape_;
}

Tensor Flatten::forward(const Tensor& x, Mode /*mode*/) {
  detail::check_built("Flatten", built_);
  detail::check_batch_shape("Flatten", input_shape_, x);
  return x.reshaped({x.dim(0), output_shape_[0]});
}

Tensor Flatten::backward(const Tensor& dy) {
  detail::check_built("Flatten", built_);
  detail::check_batch_shape("Flatten (backward)", output_shape_, dy);
  Shape shape = input_shape_;
  shape.insert(shape.begin(), dy.dim(0));
  return dy.reshaped(shape);
}

}  // namespace nnkit
