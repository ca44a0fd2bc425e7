#include "nnkit/layers/reshape.h"

#include <algorithm>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

Reshape::Reshape(ReshapeOptions options) : options_(std::move(options)) {
  const auto& t = options_.target_shape;
  if (std::count(t.begin(), t.end(), -1) > 1 ||
      std::any_of(t.begin(), t.end(), [](int64_t d) { return d == 0 || d < -1; })) {
    throw ValueError(
        fmt::format("{}: target_shape takes positive sizes and at most one -1", who()));
  }
}

std::unique_ptr<Layer> Reshape::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Reshape", config);
  args.require("target_shape");
  ReshapeOptions o;
  o.target_shape = args.get_int_list("target_shape", {});
  args.finish();
  return std::make_unique<Reshape>(std::move(o));
}

std::string Reshape::who() const {
  return fmt::format("Reshape(target_shape=[{}])", fmt::join(options_.target_shape, ", "));
}

Shape Reshape::build(const Shape& input, Rng& /*rng*/) {
  const int64_t size = shape_size(input);
  Shape out = options_.target_shape;
  int64_t known = 1;
  for (int64_t d : out) known *= d == -1 ? 1 : d;
  auto infer = std::find(out.begin(), out.end(), -1);
  if (infer != out.end() && known > 0 && size % known == 0) *infer = size / known;
  if (infer == out.end() ? known != size : size % known != 0) {
    throw ShapeError(fmt::format("{}: cannot reshape input {} ({} values per sample) into [{}]",
                                 who(), detail::batch_shape_string(input), size,
                                 fmt::join(options_.target_shape, ", ")));
  }
  built_ = true;
  input_shape_ = input;
  output_shape_ = out;
  return output_shape_;
}

Tensor Reshape::forward(const Tensor& x, Mode /*mode*/) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who(), input_shape_, x);
  Shape shape = output_shape_;
  shape.insert(shape.begin(), x.dim(0));
  return x.reshaped(shape);
}

Tensor Reshape::backward(const Tensor& dy) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who() + " (backward)", output_shape_, dy);
  Shape shape = input_shape_;
  shape.insert(shape.begin(), dy.dim(0));
  return dy.reshaped(shape);
}

nlohmann::json Reshape::config() const {
  return {{"type", "Reshape"}, {"target_shape", options_.target_shape}};
}

}  // namespace nnkit
