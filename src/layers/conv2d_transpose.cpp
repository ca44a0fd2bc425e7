#include "nnkit/layers/conv2d_transpose.h"

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

std::string pair_string(const std::array<int64_t, 2>& p) {
  return fmt::format("[{}, {}]", p[0], p[1]);
}

// One axis of the transposed convolution: its output size and the rows (columns) cropped from
// the top (left) of the full (in − 1)·s + k output.
struct TransposeAxis {
  int64_t out = 0;
  int64_t crop_before = 0;
};
TransposeAxis transpose_axis(int64_t in, int64_t kernel, int64_t stride, bool same,
                             std::optional<int64_t> output_padding) {
  if (output_padding) {
    const int64_t pad = same ? kernel / 2 : 0;
    return {(in - 1) * stride + kernel - 2 * pad + *output_padding, pad};
  }
  if (!same) return {(in - 1) * stride + std::max(kernel, stride), 0};
  // TensorFlow's "same" is the adjoint of a "same" convolution from in·s down to in: its padding
  // rule (conv_axis) says which rows the full output loses on top.
  const int64_t out = in * stride;
  return {out, conv_axis(out, kernel, stride, 1, true).before};
}

}  // namespace

Conv2DTranspose::Conv2DTranspose(Conv2DTransposeOptions options) : options_(std::move(options)) {
  const Conv2DTransposeOptions& o = options_;
  if (o.filters <= 0) {
    throw ValueError(fmt::format("Conv2DTranspose: filters must be positive, got {}", o.filters));
  }
  auto check_positive = [&](const char* name, const std::array<int64_t, 2>& p) {
    if (p[0] <= 0 || p[1] <= 0) {
      throw ValueError(fmt::format("{}: {} must be positive, got {}", who(), name, pair_string(p)));
    }
  };
  check_positive("kernel_size", o.kernel_size);
  check_positive("strides", o.strides);
  if (o.output_padding) {
    const auto& op = *o.output_padding;
    if (op[0] < 0 || op[1] < 0 || op[0] >= o.strides[0] || op[1] >= o.strides[1]) {
      throw ValueError(
          fmt::format("{}: output_padding must be at least 0 and less than strides {}, got {}",
                      who(), pair_string(o.strides), pair_string(op)));
    }
  }
  const std::string padding = detail::to_lower(o.padding);
  if (padding != "valid" && padding != "same") {
    throw ValueError(
        fmt::format("{}: padding must be 'valid' or 'same', got '{}'", who(), o.padding));
  }
  options_.padding = padding;
  same_ = padding == "same";
  activation_ = detail::parse_activation(who(), o.activation);
  if (activation_ == Activation::softmax) {
    throw ValueError(fmt::format(
        "{}: activation 'softmax' is not supported; use sigmoid, or Conv2D for class maps", who()));
  }
  alpha_ = detail::resolve_alpha(who(), activation_, o.alpha);
}

std::unique_ptr<Layer> Conv2DTranspose::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Conv2DTranspose", config);
  Conv2DTransposeOptions o;
  args.require("filters");
  args.require("kernel_size");
  o.filters = args.get_int("filters", 0);
  o.kernel_size = args.get_optional_int_pair("kernel_size").value_or(o.kernel_size);
  o.strides = args.get_optional_int_pair("strides").value_or(o.strides);
  o.padding = args.get_string("padding", o.padding);
  o.output_padding = args.get_optional_int_pair("output_padding");
  const std::array<int64_t, 2> dilation =
      args.get_optional_int_pair("dilation_rate").value_or(std::array<int64_t, 2>{1, 1});
  o.activation = args.get_string("activation", o.activation);
  o.alpha = args.get_optional_float("alpha");
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  args.finish();
  if (dilation[0] != 1 || dilation[1] != 1) {
    throw ValueError(fmt::format("Conv2DTranspose: dilation_rate {} is not implemented (only 1)",
                                 pair_string(dilation)));
  }
  return std::make_unique<Conv2DTranspose>(std::move(o));
}

std::string Conv2DTranspose::who() const {
  return fmt::format("Conv2DTranspose(filters={}, kernel_size={})", options_.filters,
                     pair_string(options_.kernel_size));
}

Shape Conv2DTranspose::build(const Shape& input, Rng& rng) {
  const Conv2DTransposeOptions& o = options_;
  if (input.size() != 3 || input[0] <= 0 || input[1] <= 0 || input[2] <= 0) {
    throw ShapeError(fmt::format(
        "{}: expected images [N, channels, height, width], got per-sample shape {}; give "
        "input_shape as [channels, height, width] (NCHW), e.g. [8, 7, 7], or add Reshape",
        who(), shape_to_string(input)));
  }
  auto op = [&](int a) -> std::optional<int64_t> {
    if (!o.output_padding) return std::nullopt;
    return (*o.output_padding)[a];
  };
  const TransposeAxis rows = transpose_axis(input[1], o.kernel_size[0], o.strides[0], same_, op(0));
  const TransposeAxis cols = transpose_axis(input[2], o.kernel_size[1], o.strides[1], same_, op(1));
  if (rows.out <= 0 || cols.out <= 0) {
    throw ShapeError(
        fmt::format("{}: padding 'same' with output_padding {} leaves an output of "
                    "{}x{} on a {}x{} input",
                    who(), pair_string(*o.output_padding), rows.out, cols.out, input[1], input[2]));
  }
  // The convolution from the output [filters, out_h, out_w] back to the input [C, H, W]; its
  // bottom and right padding may be negative (rows of the output no window reaches).
  geometry_ = {
      .batch = 0,
      .channels = o.filters,
      .height = rows.out,
      .width = cols.out,
      .filters = input[0],
      .kernel_h = o.kernel_size[0],
      .kernel_w = o.kernel_size[1],
      .stride_h = o.strides[0],
      .stride_w = o.strides[1],
      .pad_top = rows.crop_before,
      .pad_bottom = (input[1] - 1) * o.strides[0] + o.kernel_size[0] - rows.out - rows.crop_before,
      .pad_left = cols.crop_before,
      .pad_right = (input[2] - 1) * o.strides[1] + o.kernel_size[1] - cols.out - cols.crop_before,
      .out_h = input[1],
      .out_w = input[2]};
  weight_.value = Tensor({input[0], o.filters, o.kernel_size[0], o.kernel_size[1]});
  initialize(weight_.value, o.kernel_initializer, rng);
  weight_.grad = Tensor(weight_.value.shape());
  if (o.use_bias) {
    bias_.value = Tensor({o.filters});
    initialize(bias_.value, o.bias_initializer, rng);
    bias_.grad = Tensor({o.filters});
  }
  cached_ = false;
  x_ = Tensor();
  z_ = Tensor();
  y_ = Tensor();
  dz_ = Tensor();
  input_shape_ = input;
  output_shape_ = {o.filters, rows.out, cols.out};
  return output_shape_;
}

Conv2dGeometry Conv2DTranspose::geometry(int64_t batch) const {
  Conv2dGeometry g = geometry_;
  g.batch = batch;
  return g;
}

Tensor Conv2DTranspose::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), geometry_.channels > 0);
  detail::check_batch_shape(
      who(), input_shape_, x,
      x.rank() == 4 ? "" : "Conv2DTranspose takes images [N, channels, height, width]");
  const Conv2dGeometry g = geometry(x.dim(0));
  const Shape out = {g.batch, g.channels, g.height, g.width};
  const bool train = mode == Mode::Train;
  cached_ = false;
  if (train) x_ = x;
  Tensor z = Tensor::uninitialized(out);
  kernel_.forward(g, x.data(), weight_.value.data(),
                  options_.use_bias ? bias_.value.data() : nullptr, z.data());
  cached_ = train;
  if (activation_ == Activation::linear) return z;
  if (train && activation_backward_reads_input(activation_)) {
    Tensor y = Tensor::uninitialized(out);
    activation_forward(activation_, alpha_, 1, z.size(), z.data(), y.data());
    z_ = std::move(z);
    y_ = y;
    return y;
  }
  activation_forward(activation_, alpha_, 1, z.size(), z.data(), z.data());
  if (train) y_ = z;
  return z;
}

Tensor Conv2DTranspose::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  const Conv2dGeometry g = geometry(x_.dim(0));
  detail::check_gradient_shape(who(), {g.batch, g.channels, g.height, g.width}, dy);
  if (activation_ == Activation::linear) return linear_backward(dy);
  if (dz_.shape() != dy.shape()) dz_ = Tensor::uninitialized(dy.shape());
  const bool reads_z = activation_backward_reads_input(activation_);
  activation_backward(activation_, alpha_, 1, dy.size(), reads_z ? z_.data() : nullptr, y_.data(),
                      dy.data(), dz_.data());
  return linear_backward(dz_);
}

Tensor Conv2DTranspose::backward_preactivation(const Tensor& dz) {
  if (output_activation().empty()) return Layer::backward_preactivation(dz);
  detail::check_forward_cache(who(), cached_);
  const Conv2dGeometry g = geometry(x_.dim(0));
  detail::check_gradient_shape(who(), {g.batch, g.channels, g.height, g.width}, dz);
  return linear_backward(dz);
}

Tensor Conv2DTranspose::linear_backward(const Tensor& dz) {
  const Conv2dGeometry g = geometry(x_.dim(0));
  Tensor dx = input_gradient_needed_ ? Tensor::uninitialized(x_.shape()) : Tensor();
  kernel_.backward(g, x_.data(), dz.data(), weight_.value.data(),
                   input_gradient_needed_ ? dx.data() : nullptr, weight_.grad.data(),
                   options_.use_bias ? bias_.grad.data() : nullptr);
  return dx;
}

std::vector<Param*> Conv2DTranspose::params() {
  if (options_.use_bias) return {&weight_, &bias_};
  return {&weight_};
}

nlohmann::json Conv2DTranspose::config() const {
  const Conv2DTransposeOptions& o = options_;
  nlohmann::json j = {{"type", "Conv2DTranspose"},
                      {"filters", o.filters},
                      {"kernel_size", o.kernel_size},
                      {"strides", o.strides},
                      {"padding", o.padding}};
  if (o.output_padding) j["output_padding"] = *o.output_padding;
  j["activation"] = activation_name(activation_);
  if (activation_has_alpha(activation_)) j["alpha"] = detail::json_float(alpha_);
  j["use_bias"] = o.use_bias;
  j["kernel_initializer"] = initializer_to_json(o.kernel_initializer);
  j["bias_initializer"] = initializer_to_json(o.bias_initializer);
  return j;
}

std::string Conv2DTranspose::output_activation() const {
  return activation_ == Activation::sigmoid ? "sigmoid" : "";
}

}  // namespace nnkit
