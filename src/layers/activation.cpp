#include "nnkit/layers/activation.h"

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

ActivationLayer::ActivationLayer(ActivationOptions options) {
  activation_ = detail::parse_activation("Activation", options.activation);
  alpha_ = detail::resolve_alpha(who(), activation_, options.alpha);
}

std::unique_ptr<Layer> ActivationLayer::from_config(const nlohmann::json& config) {
  const std::string type = config.is_object() ? config.value("type", "Activation") : "Activation";
  detail::SpecReader args(type, config);
  ActivationOptions o;
  if (type == "ReLU") {
    o.activation = "relu";
  } else if (type == "LeakyReLU") {
    o.activation = "leaky_relu";
    o.alpha = args.get_optional_float("alpha");
    std::optional<float> slope = args.get_optional_float("negative_slope");
    if (o.alpha && slope) {
      throw ValueError("LeakyReLU: give alpha or negative_slope (its Keras 3 name), not both");
    }
    if (slope) o.alpha = slope;
  } else if (type == "ELU") {
    o.activation = "elu";
    o.alpha = args.get_optional_float("alpha");
  } else if (type == "Softmax") {
    o.activation = "softmax";
    int64_t axis = args.get_int("axis", -1);
    if (axis != -1) {
      throw ValueError(fmt::format(
          "Softmax: only axis=-1 (the last axis) is supported, got axis={}; move the axis last "
          "with Reshape or Permute first",
          axis));
    }
  } else {
    o.activation = args.get_string("activation", o.activation);
    o.alpha = args.get_optional_float("alpha");
  }
  args.finish();
  return std::make_unique<ActivationLayer>(std::move(o));
}

std::string ActivationLayer::who() const {
  return fmt::format("Activation({})", activation_name(activation_));
}

Shape ActivationLayer::build(const Shape& input, Rng& /*rng*/) {
  if (activation_ == Activation::softmax && input.empty()) {
    throw ShapeError(
        fmt::format("{}: softmax needs an axis to normalise over; got input [N]", who()));
  }
  built_ = true;
  cached_ = false;
  x_ = Tensor();
  y_ = Tensor();
  input_shape_ = output_shape_ = input;
  return output_shape_;
}

Tensor ActivationLayer::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who(), input_shape_, x);
  const int64_t cols = x.rank() > 1 ? x.dim(-1) : 1, rows = cols > 0 ? x.size() / cols : 0;
  Tensor y = Tensor::uninitialized(x.shape());
  activation_forward(activation_, alpha_, rows, cols, x.data(), y.data());
  cached_ = mode == Mode::Train;
  x_ = cached_ && activation_backward_reads_input(activation_) ? x : Tensor();
  y_ = cached_ && activation_ != Activation::linear ? y : Tensor();
  return y;
}

Tensor ActivationLayer::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  if (activation_ == Activation::linear) return dy;
  detail::check_gradient_shape(who(), y_.shape(), dy);
  const int64_t cols = dy.rank() > 1 ? dy.dim(-1) : 1, rows = cols > 0 ? dy.size() / cols : 0;
  Tensor dx = Tensor::uninitialized(dy.shape());
  activation_backward(activation_, alpha_, rows, cols, x_.empty() ? nullptr : x_.data(), y_.data(),
                      dy.data(), dx.data());
  return dx;
}

nlohmann::json ActivationLayer::config() const {
  nlohmann::json j = {{"type", "Activation"}, {"activation", activation_name(activation_)}};
  if (activation_has_alpha(activation_)) j["alpha"] = detail::json_float(alpha_);
  return j;
}

std::string ActivationLayer::output_activation() const {
  if (activation_ == Activation::softmax) return "softmax";
  if (activation_ == Activation::sigmoid) return "sigmoid";
  return "";
}

Tensor ActivationLayer::backward_preactivation(const Tensor& dz) {
  if (output_activation().empty()) return Layer::backward_preactivation(dz);
  return dz;
}

}  // namespace nnkit
