#include "nnkit/layers/pooling2d.h"

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

const Pooling2DOptions& validated(const std::string& type, const Pooling2DOptions& o) {
  if (o.pool_size[0] <= 0 || o.pool_size[1] <= 0) {
    throw ValueError(fmt::format("{}: pool_size must be positive, got [{}]", type,
                                 fmt::join(o.pool_size, ", ")));
  }
  if (o.strides && ((*o.strides)[0] <= 0 || (*o.strides)[1] <= 0)) {
    throw ValueError(
        fmt::format("{}: strides must be positive, got [{}]", type, fmt::join(*o.strides, ", ")));
  }
  if (o.padding != "valid" && o.padding != "same") {
    throw ValueError(
        fmt::format("{}: padding must be \"valid\" or \"same\", got \"{}\"", type, o.padding));
  }
  return o;
}

}  // namespace

// ---- Pooling2D ----

Pooling2D::Pooling2D(const std::string& type, Pooling2DOptions options)
    : options_(validated(type, options)), strides_(options_.strides.value_or(options_.pool_size)) {}

Pooling2DOptions Pooling2D::options_from_config(const std::string& type,
                                                const nlohmann::json& config) {
  detail::SpecReader args(type, config);
  Pooling2DOptions o;
  o.pool_size = args.get_optional_int_pair("pool_size").value_or(o.pool_size);
  o.strides = args.get_optional_int_pair("strides");
  o.padding = detail::to_lower(args.get_string("padding", o.padding));
  args.finish();
  return o;
}

std::string Pooling2D::who() const {
  return fmt::format("{}(pool_size=[{}], strides=[{}], padding={})", type(),
                     fmt::join(options_.pool_size, ", "), fmt::join(strides_, ", "),
                     options_.padding);
}

Shape Pooling2D::build(const Shape& input, Rng& /*rng*/) {
  if (input.size() != 3) {
    throw ShapeError(fmt::format("{}: expected images [N, C, H, W] (channels first), got input {}",
                                 who(), detail::batch_shape_string(input)));
  }
  const int64_t height = input[1], width = input[2];
  if (options_.padding == "same") {
    rows_ = pool_axis_same(height, options_.pool_size[0], strides_[0]);
    cols_ = pool_axis_same(width, options_.pool_size[1], strides_[1]);
  } else {
    rows_ = pool_axis_valid(height, options_.pool_size[0], strides_[0]);
    cols_ = pool_axis_valid(width, options_.pool_size[1], strides_[1]);
  }
  if (rows_.out <= 0 || cols_.out <= 0) {
    throw ShapeError(fmt::format(
        "{}: the {}x{} pool does not fit in the {}x{} images of input {} with padding \"valid\"; "
        "use padding \"same\" or a smaller pool_size",
        who(), options_.pool_size[0], options_.pool_size[1], height, width,
        detail::batch_shape_string(input)));
  }
  built_ = true;
  input_shape_ = input;
  output_shape_ = {input[0], rows_.out, cols_.out};
  return output_shape_;
}

nlohmann::json Pooling2D::config() const {
  return {{"type", type()},
          {"pool_size", options_.pool_size},
          {"strides", strides_},
          {"padding", options_.padding}};
}

Pool2dGeometry Pooling2D::geometry(int64_t batch) const {
  return {.planes = batch * input_shape_[0],
          .in_h = input_shape_[1],
          .in_w = input_shape_[2],
          .out_h = rows_.out,
          .out_w = cols_.out,
          .pool_h = options_.pool_size[0],
          .pool_w = options_.pool_size[1],
          .stride_h = strides_[0],
          .stride_w = strides_[1],
          .pad_top = rows_.pad_before,
          .pad_left = cols_.pad_before};
}

void Pooling2D::check_input(const Tensor& x) const {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who(), input_shape_, x);
}

Shape Pooling2D::batch_output_shape(int64_t batch) const {
  return {batch, output_shape_[0], output_shape_[1], output_shape_[2]};
}

// ---- MaxPooling2D ----

MaxPooling2D::MaxPooling2D(Pooling2DOptions options)
    : Pooling2D("MaxPooling2D", std::move(options)) {}

std::unique_ptr<Layer> MaxPooling2D::from_config(const nlohmann::json& config) {
  return std::make_unique<MaxPooling2D>(options_from_config("MaxPooling2D", config));
}

Tensor MaxPooling2D::forward(const Tensor& x, Mode mode) {
  check_input(x);
  const int64_t batch = x.dim(0);
  const Pool2dGeometry g = geometry(batch);
  Tensor y = Tensor::uninitialized(batch_output_shape(batch));
  cached_ = mode == Mode::Train;
  if (cached_) {
    argmax_.resize(y.size());
    batch_ = batch;
    max_pool2d_forward(g, x.data(), y.data(), argmax_.data());
  } else {
    argmax_.clear();
    max_pool2d_forward(g, x.data(), y.data(), nullptr);
  }
  return y;
}

Tensor MaxPooling2D::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  detail::check_gradient_shape(who(), batch_output_shape(batch_), dy);
  Shape dx_shape = input_shape_;
  dx_shape.insert(dx_shape.begin(), batch_);
  Tensor dx = Tensor::uninitialized(dx_shape);
  max_pool2d_backward(geometry(batch_), dy.data(), argmax_.data(), dx.data());
  return dx;
}

// ---- AveragePooling2D ----

AveragePooling2D::AveragePooling2D(Pooling2DOptions options)
    : Pooling2D("AveragePooling2D", std::move(options)) {}

std::unique_ptr<Layer> AveragePooling2D::from_config(const nlohmann::json& config) {
  return std::make_unique<AveragePooling2D>(options_from_config("AveragePooling2D", config));
}

Tensor AveragePooling2D::forward(const Tensor& x, Mode /*mode*/) {
  check_input(x);
  const int64_t batch = x.dim(0);
  Tensor y = Tensor::uninitialized(batch_output_shape(batch));
  avg_pool2d_forward(geometry(batch), x.data(), y.data());
  return y;
}

Tensor AveragePooling2D::backward(const Tensor& dy) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who() + " (backward)", output_shape_, dy);
  const int64_t batch = dy.dim(0);
  Shape dx_shape = input_shape_;
  dx_shape.insert(dx_shape.begin(), batch);
  Tensor dx = Tensor::uninitialized(dx_shape);
  avg_pool2d_backward(geometry(batch), dy.data(), dx.data());
  return dx;
}

}  // namespace nnkit
