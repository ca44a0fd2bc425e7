#include "nnkit/layers/dropout.h"

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/elementwise.h"
#include "spec_reader.h"

namespace nnkit {

// Why inverted dropout is the classic dropout. The classic form (Srivastava et al.) keeps each
// unit with probability p = 1 − rate in training and multiplies activations by p at prediction
// time, so that the next layer sees at prediction the expected value of what it saw in
// training: E[mask ⊙ x] = p·x. Inverted dropout divides by p in training instead, so that
// E[mask ⊙ x / p] = x and prediction needs nothing at all. The expected activation the next
// layer sees is the same in both; only a constant factor 1/p moves from inference to
// training, and since the next layer is linear in its input, its weights absorb that factor
// (a network trained one way equals one trained the other way with weights scaled by p).
// The inverted form keeps inference free of dropout and the rate out of the saved model.

Dropout::Dropout(DropoutOptions options) : options_(options) {
  if (!(options_.rate >= 0.0f && options_.rate < 1.0f)) {
    throw ValueError(fmt::format("Dropout: rate must be in [0, 1), got {}", options_.rate));
  }
}

std::unique_ptr<Layer> Dropout::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Dropout", config);
  args.require("rate");
  DropoutOptions o;
  o.rate = args.get_float("rate", o.rate);
  args.finish();
  return std::make_unique<Dropout>(o);
}

std::string Dropout::who() const { return fmt::format("Dropout(rate={})", options_.rate); }

Shape Dropout::build(const Shape& input, Rng& rng) {
  rng_ = rng.split();
  built_ = true;
  cached_ = false;
  mask_ = Tensor();
  input_shape_ = output_shape_ = input;
  return output_shape_;
}

Tensor Dropout::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), built_);
  detail::check_batch_shape(who(), input_shape_, x);
  cached_ = mode == Mode::Train;
  if (mode == Mode::Infer) {
    mask_ = Tensor();
    return x;
  }
  const float keep_scale = 1.0f / (1.0f - options_.rate);
  mask_ = Tensor::uninitialized(x.shape());
  for (float& m : mask_) m = rng_.uniform() < options_.rate ? 0.0f : keep_scale;
  Tensor y = Tensor::uninitialized(x.shape());
  mul(x.size(), x.data(), mask_.data(), y.data());
  return y;
}

Tensor Dropout::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  detail::check_gradient_shape(who(), mask_.shape(), dy);
  Tensor dx = Tensor::uninitialized(dy.shape());
  mul(dy.size(), dy.data(), mask_.data(), dx.data());
  return dx;
}

nlohmann::json Dropout::config() const {
  return {{"type", "Dropout"}, {"rate", detail::json_float(options_.rate)}};
}

}  // namespace nnkit
