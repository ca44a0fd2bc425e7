#include "nnkit/layers/dense.h"

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/elementwise.h"
#include "nnkit/kernels/gemm.h"
#include "nnkit/kernels/gemv.h"
#include "spec_reader.h"

namespace nnkit {

Dense::Dense(DenseOptions options) : options_(std::move(options)) {
  if (options_.units <= 0) {
    throw ValueError(fmt::format("Dense: units must be positive, got {}", options_.units));
  }
  activation_ = detail::parse_activation(who(), options_.activation);
  alpha_ = detail::resolve_alpha(who(), activation_, options_.alpha);
}

std::unique_ptr<Layer> Dense::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Dense", config);
  DenseOptions o;
  args.require("units");
  o.units = args.get_int("units", 0);
  o.activation = args.get_string("activation", o.activation);
  o.alpha = args.get_optional_float("alpha");
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  args.finish();
  return std::make_unique<Dense>(std::move(o));
}

std::string Dense::who() const { return fmt::format("Dense(units={})", options_.units); }

Shape Dense::build(const Shape& input, Rng& rng) {
  if (input.empty() || input.back() <= 0) {
    throw ShapeError(fmt::format("{}: expected input [N, ..., features], got per-sample shape {}",
                                 who(), shape_to_string(input)));
  }
  in_features_ = input.back();
  weight_.value = Tensor({options_.units, in_features_});
  initialize(weight_.value, options_.kernel_initializer, rng);
  weight_.grad = Tensor({options_.units, in_features_});
  if (options_.use_bias) {
    bias_.value = Tensor({options_.units});
    initialize(bias_.value, options_.bias_initializer, rng);
    bias_.grad = Tensor({options_.units});
  }
  clear_cache();
  input_shape_ = input;
  output_shape_ = input;
  output_shape_.back() = options_.units;
  return output_shape_;
}

Tensor Dense::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), in_features_ > 0);
  // A flat Dense fed images or sequences is the usual slip; say what fixes it.
  bool flatten_hint = input_shape_.size() == 1 && x.rank() > 2;
  if (input_shape_.size() >= 2) {
    // Per time step: any number of steps (truncated BPTT's chunks, streaming's single step).
    if (x.rank() < 2 || x.shape().back() != in_features_) {
      throw ShapeError(fmt::format("{}: expected input [..., {}], got {}", who(), in_features_,
                                   shape_to_string(x.shape())));
    }
  } else {
    detail::check_batch_shape(who(), input_shape_, x,
                              flatten_hint ? "add Flatten before Dense" : "");
  }
  const int64_t rows = x.size() / in_features_, units = options_.units;
  Shape out = x.shape();
  out.back() = units;

  // z = x·Wᵀ + b, the leading axes of x flattened into rows.
  Tensor z = Tensor::uninitialized(out);
  if (rows == 1 && gemv_is_vectorized()) {
    // One sample (a streaming step's head): oneDNN's call costs more than the product.
    gemv(units, in_features_, weight_.value.data(), in_features_, x.data(), z.data(), false);
  } else {
    gemm(Trans::No, Trans::Yes, rows, units, in_features_, 1.0f, x.data(), in_features_,
         weight_.value.data(), in_features_, 0.0f, z.data(), units);
  }
  if (options_.use_bias) add_row_vector(rows, units, bias_.value.data(), z.data());

  clear_cache();
  if (mode == Mode::Train) x_ = x;
  if (activation_ == Activation::linear) return z;
  Tensor y = Tensor::uninitialized(out);
  activation_forward(activation_, alpha_, rows, units, z.data(), y.data());
  if (mode == Mode::Train) {
    if (activation_backward_reads_input(activation_)) z_ = std::move(z);
    y_ = y;
  }
  return y;
}

Tensor Dense::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), !x_.empty());
  Shape out = x_.shape();
  out.back() = options_.units;
  detail::check_gradient_shape(who(), out, dy);
  if (activation_ == Activation::linear) return linear_backward(dy);
  Tensor dz = Tensor::uninitialized(dy.shape());
  activation_backward(activation_, alpha_, dy.size() / options_.units, options_.units,
                      z_.empty() ? nullptr : z_.data(), y_.data(), dy.data(), dz.data());
  return linear_backward(dz);
}

Tensor Dense::backward_preactivation(const Tensor& dz) {
  detail::check_forward_cache(who(), !x_.empty());
  Shape out = x_.shape();
  out.back() = options_.units;
  detail::check_gradient_shape(who(), out, dz);
  return linear_backward(dz);
}

Tensor Dense::linear_backward(const Tensor& dz) {
  const int64_t rows = x_.size() / in_features_, units = options_.units;
  // dW[units, in] += dzᵀ·x, db += Σ_rows dz: accumulated (beta = 1), as the contract says.
  gemm(Trans::Yes, Trans::No, units, in_features_, rows, 1.0f, dz.data(), units, x_.data(),
       in_features_, 1.0f, weight_.grad.data(), in_features_);
  if (options_.use_bias) sum_rows_into(rows, units, dz.data(), bias_.grad.data());
  if (!input_gradient_needed_) return Tensor();
  // dx = dz·W.
  Tensor dx = Tensor::uninitialized(x_.shape());
  gemm(Trans::No, Trans::No, rows, in_features_, units, 1.0f, dz.data(), units,
       weight_.value.data(), in_features_, 0.0f, dx.data(), in_features_);
  return dx;
}

void Dense::clear_cache() {
  // Moves, not copies: a copy of an empty Tensor has shape [] and so one element.
  x_ = Tensor();
  z_ = Tensor();
  y_ = Tensor();
}

std::vector<Param*> Dense::params() {
  if (options_.use_bias) return {&weight_, &bias_};
  return {&weight_};
}

nlohmann::json Dense::config() const {
  nlohmann::json j = {
      {"type", "Dense"}, {"units", options_.units}, {"activation", activation_name(activation_)}};
  if (activation_has_alpha(activation_)) j["alpha"] = detail::json_float(alpha_);
  j["use_bias"] = options_.use_bias;
  j["kernel_initializer"] = initializer_to_json(options_.kernel_initializer);
  j["bias_initializer"] = initializer_to_json(options_.bias_initializer);
  return j;
}

std::string Dense::output_activation() const {
  if (activation_ == Activation::softmax) return "softmax";
  if (activation_ == Activation::sigmoid) return "sigmoid";
  return "";
}

}  // namespace nnkit
