#include "nnkit/layers/conv2d.h"

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

// [batch, channels, pixels] -> [batch, pixels, channels], so that a row-wise kernel (softmax)
// runs over the channels of each pixel.
void channels_last(int64_t batch, int64_t channels, int64_t pixels, const float* in, float* out) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t p = 0; p < pixels; ++p)
        out[(n * pixels + p) * channels + c] = in[(n * channels + c) * pixels + p];
}
void channels_first(int64_t batch, int64_t channels, int64_t pixels, const float* in, float* out) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t c = 0; c < channels; ++c)
        out[(n * channels + c) * pixels + p] = in[(n * pixels + p) * channels + c];
}

}  // namespace

Conv2D::Conv2D(Conv2DOptions options) : options_(std::move(options)) {
  const Conv2DOptions& o = options_;
  if (o.filters <= 0) {
    throw ValueError(fmt::format("Conv2D: filters must be positive, got {}", o.filters));
  }
  auto check_positive = [&](const char* name, const std::array<int64_t, 2>& p) {
    if (p[0] <= 0 || p[1] <= 0) {
      throw ValueError(fmt::format("{}: {} must be positive, got {}", who(), name, pair_string(p)));
    }
  };
  check_positive("kernel_size", o.kernel_size);
  check_positive("strides", o.strides);
  check_positive("dilation_rate", o.dilation_rate);
  if ((o.strides[0] > 1 || o.strides[1] > 1) &&
      (o.dilation_rate[0] > 1 || o.dilation_rate[1] > 1)) {
    throw ValueError(fmt::format(
        "{}: strides > 1 together with dilation_rate > 1 is not supported (Keras refuses it "
        "too), got strides {} and dilation_rate {}",
        who(), pair_string(o.strides), pair_string(o.dilation_rate)));
  }
  const std::string padding = detail::to_lower(o.padding);
  if (padding != "valid" && padding != "same") {
    throw ValueError(
        fmt::format("{}: padding must be 'valid' or 'same', got '{}'", who(), o.padding));
  }
  options_.padding = padding;
  same_ = padding == "same";
  activation_ = detail::parse_activation(who(), o.activation);
  alpha_ = detail::resolve_alpha(who(), activation_, o.alpha);
}

std::unique_ptr<Layer> Conv2D::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Conv2D", config);
  Conv2DOptions o;
  args.require("filters");
  args.require("kernel_size");
  o.filters = args.get_int("filters", 0);
  o.kernel_size = args.get_optional_int_pair("kernel_size").value_or(o.kernel_size);
  o.strides = args.get_optional_int_pair("strides").value_or(o.strides);
  o.padding = args.get_string("padding", o.padding);
  o.dilation_rate = args.get_optional_int_pair("dilation_rate").value_or(o.dilation_rate);
  o.activation = args.get_string("activation", o.activation);
  o.alpha = args.get_optional_float("alpha");
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  args.finish();
  return std::make_unique<Conv2D>(std::move(o));
}

std::string Conv2D::who() const {
  return fmt::format("Conv2D(filters={}, kernel_size={})", options_.filters,
                     pair_string(options_.kernel_size));
}

Shape Conv2D::build(const Shape& input, Rng& rng) {
  const Conv2DOptions& o = options_;
  if (input.size() != 3 || input[0] <= 0 || input[1] <= 0 || input[2] <= 0) {
    throw ShapeError(fmt::format(
        "{}: expected images [N, channels, height, width], got per-sample shape {}; give "
        "input_shape as [channels, height, width] (NCHW), e.g. [1, 28, 28], or add Reshape",
        who(), shape_to_string(input)));
  }
  const ConvAxis rows =
      conv_axis(input[1], o.kernel_size[0], o.strides[0], o.dilation_rate[0], same_);
  const ConvAxis cols =
      conv_axis(input[2], o.kernel_size[1], o.strides[1], o.dilation_rate[1], same_);
  if (rows.out <= 0 || cols.out <= 0) {
    const int64_t span_h = (o.kernel_size[0] - 1) * o.dilation_rate[0] + 1;
    const int64_t span_w = (o.kernel_size[1] - 1) * o.dilation_rate[1] + 1;
    throw ShapeError(fmt::format(
        "{}: the kernel spans {}x{} (kernel_size {}, dilation_rate {}) but the input image is "
        "{}x{} with padding 'valid'; use padding 'same', a smaller kernel, or ZeroPadding2D first",
        who(), span_h, span_w, pair_string(o.kernel_size), pair_string(o.dilation_rate), input[1],
        input[2]));
  }
  geometry_ = {.batch = 0,
               .channels = input[0],
               .height = input[1],
               .width = input[2],
               .filters = o.filters,
               .kernel_h = o.kernel_size[0],
               .kernel_w = o.kernel_size[1],
               .stride_h = o.strides[0],
               .stride_w = o.strides[1],
               .dilation_h = o.dilation_rate[0],
               .dilation_w = o.dilation_rate[1],
               .pad_top = rows.before,
               .pad_bottom = rows.after,
               .pad_left = cols.before,
               .pad_right = cols.after,
               .out_h = rows.out,
               .out_w = cols.out};
  weight_.value = Tensor({o.filters, input[0], o.kernel_size[0], o.kernel_size[1]});
  initialize(weight_.value, o.kernel_initializer, rng);
  weight_.grad = Tensor(weight_.value.shape());
  if (o.use_bias) {
    bias_.value = Tensor({o.filters});
    initialize(bias_.value, o.bias_initializer, rng);
    bias_.grad = Tensor({o.filters});
  }
  clear_cache();
  input_shape_ = input;
  output_shape_ = {o.filters, rows.out, cols.out};
  return output_shape_;
}

Conv2dGeometry Conv2D::geometry(int64_t batch) const {
  Conv2dGeometry g = geometry_;
  g.batch = batch;
  return g;
}

Tensor Conv2D::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), geometry_.channels > 0);
  detail::check_batch_shape(
      who(), input_shape_, x,
      x.rank() == 4 ? "" : "Conv2D takes images [N, channels, height, width]");
  const Conv2dGeometry g = geometry(x.dim(0));
  const Shape out = {g.batch, g.filters, g.out_h, g.out_w};
  const bool train = mode == Mode::Train;
  cached_ = false;
  // The cache's buffers are kept from batch to batch (a Tensor copy into one of the same size
  // reuses it): images are large, and fresh memory costs its page faults on every batch. In
  // training the kernel reads x_ (not x), so backward() hands it the pointer forward() saw.
  if (train) x_ = x;
  Tensor z = Tensor::uninitialized(out);
  // ReLU is fused into the convolution's pass (the commonest activation of a convolution).
  const bool relu = activation_ == Activation::relu;
  // Its backward needs only where the output is positive: one byte per element, not a copy.
  if (train && relu) relu_mask_.resize(static_cast<std::size_t>(z.size()));
  kernel_.forward(g, train ? x_.data() : x.data(), weight_.value.data(),
                  options_.use_bias ? bias_.value.data() : nullptr, z.data(), relu,
                  train && relu ? relu_mask_.data() : nullptr);
  cached_ = train;
  if (activation_ == Activation::linear || relu) return z;
  if (activation_ == Activation::softmax) {
    const int64_t pixels = g.out_h * g.out_w;
    Tensor t = Tensor::uninitialized(out);
    channels_last(g.batch, g.filters, pixels, z.data(), t.data());
    activation_forward(activation_, alpha_, g.batch * pixels, g.filters, t.data(), t.data());
    channels_first(g.batch, g.filters, pixels, t.data(), z.data());
    if (train) y_ = z;
    return z;
  }
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

Tensor Conv2D::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  const Conv2dGeometry g = geometry(x_.dim(0));
  detail::check_gradient_shape(who(), {g.batch, g.filters, g.out_h, g.out_w}, dy);
  if (activation_ == Activation::linear) return linear_backward(dy);
  if (activation_ == Activation::relu) return linear_backward(dy, relu_mask_.data());
  if (dz_.shape() != dy.shape()) dz_ = Tensor::uninitialized(dy.shape());
  if (activation_ == Activation::softmax) {
    // Softmax's Jacobian couples the channels of a pixel: work channels-last.
    const int64_t pixels = g.out_h * g.out_w;
    Tensor y_last = Tensor::uninitialized(dy.shape()), d_last = Tensor::uninitialized(dy.shape());
    channels_last(g.batch, g.filters, pixels, y_.data(), y_last.data());
    channels_last(g.batch, g.filters, pixels, dy.data(), d_last.data());
    activation_backward(activation_, alpha_, g.batch * pixels, g.filters, nullptr, y_last.data(),
                        d_last.data(), d_last.data());
    channels_first(g.batch, g.filters, pixels, d_last.data(), dz_.data());
  } else {
    const bool reads_z = activation_backward_reads_input(activation_);
    activation_backward(activation_, alpha_, 1, dy.size(), reads_z ? z_.data() : nullptr, y_.data(),
                        dy.data(), dz_.data());
  }
  return linear_backward(dz_);
}

Tensor Conv2D::backward_preactivation(const Tensor& dz) {
  if (output_activation().empty()) return Layer::backward_preactivation(dz);
  detail::check_forward_cache(who(), cached_);
  const Conv2dGeometry g = geometry(x_.dim(0));
  detail::check_gradient_shape(who(), {g.batch, g.filters, g.out_h, g.out_w}, dz);
  return linear_backward(dz);
}

Tensor Conv2D::linear_backward(const Tensor& dz, const uint8_t* relu_mask) {
  const Conv2dGeometry g = geometry(x_.dim(0));
  Tensor dx = input_gradient_needed_ ? Tensor::uninitialized(x_.shape()) : Tensor();
  kernel_.backward(g, x_.data(), dz.data(), weight_.value.data(),
                   input_gradient_needed_ ? dx.data() : nullptr, weight_.grad.data(),
                   options_.use_bias ? bias_.grad.data() : nullptr, relu_mask);
  return dx;
}

void Conv2D::clear_cache() {
  // Moves, not copies: a copy of an empty Tensor has shape [] and so one element.
  cached_ = false;
  x_ = Tensor();
  z_ = Tensor();
  y_ = Tensor();
  dz_ = Tensor();
  relu_mask_.clear();
}

std::vector<Param*> Conv2D::params() {
  if (options_.use_bias) return {&weight_, &bias_};
  return {&weight_};
}

nlohmann::json Conv2D::config() const {
  const Conv2DOptions& o = options_;
  nlohmann::json j = {{"type", "Conv2D"},
                      {"filters", o.filters},
                      {"kernel_size", o.kernel_size},
                      {"strides", o.strides},
                      {"padding", o.padding},
                      {"dilation_rate", o.dilation_rate},
                      {"activation", activation_name(activation_)}};
  if (activation_has_alpha(activation_)) j["alpha"] = detail::json_float(alpha_);
  j["use_bias"] = o.use_bias;
  j["kernel_initializer"] = initializer_to_json(o.kernel_initializer);
  j["bias_initializer"] = initializer_to_json(o.bias_initializer);
  return j;
}

std::string Conv2D::output_activation() const {
  return activation_ == Activation::sigmoid ? "sigmoid" : "";
}

}  // namespace nnkit
