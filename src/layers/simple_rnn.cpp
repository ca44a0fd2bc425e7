#include "nnkit/layers/simple_rnn.h"

#include <algorithm>
#include <vector>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/elementwise.h"
#include "nnkit/kernels/gemm.h"
#include "sequence_layout.h"
#include "spec_reader.h"

namespace nnkit {

SimpleRNN::SimpleRNN(SimpleRNNOptions options) : options_(std::move(options)) {
  if (options_.units <= 0) {
    throw ValueError(fmt::format("SimpleRNN: units must be positive, got {}", options_.units));
  }
  activation_ = detail::parse_elementwise_activation(who(), "activation", options_.activation);
  alpha_ = activation_default_alpha(activation_);
}

std::unique_ptr<Layer> SimpleRNN::from_config(const nlohmann::json& config) {
  detail::SpecReader args("SimpleRNN", config);
  SimpleRNNOptions o;
  args.require("units");
  o.units = args.get_int("units", 0);
  // Keras writes "activation": null for linear.
  o.activation = args.get_string("activation", args.has("activation") ? "linear" : o.activation);
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.return_sequences = args.get_bool("return_sequences", o.return_sequences);
  o.go_backwards = args.get_bool("go_backwards", o.go_backwards);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.recurrent_initializer = args.get_initializer("recurrent_initializer", o.recurrent_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  args.finish();
  return std::make_unique<SimpleRNN>(std::move(o));
}

std::string SimpleRNN::who() const { return fmt::format("SimpleRNN(units={})", options_.units); }

Shape SimpleRNN::build(const Shape& input, Rng& rng) {
  detail::check_sequence_shape(who(), input);
  const int64_t units = options_.units;
  features_ = input[1];
  weight_ih_.value = Tensor({units, features_});
  initialize(weight_ih_.value, options_.kernel_initializer, rng);
  weight_ih_.grad = Tensor({units, features_});
  weight_hh_.value = Tensor({units, units});
  initialize(weight_hh_.value, options_.recurrent_initializer, rng);
  weight_hh_.grad = Tensor({units, units});
  if (options_.use_bias) {
    for (Param* b : {&bias_ih_, &bias_hh_}) {
      b->value = Tensor({units});
      initialize(b->value, options_.bias_initializer, rng);
      b->grad = Tensor({units});
    }
    bias_sum_ = Tensor({units});
  }
  batch_ = steps_ = 0;
  cached_ = false;
  input_shape_ = input;
  output_shape_ = options_.return_sequences ? Shape{input[0], units} : Shape{units};
  return output_shape_;
}

void SimpleRNN::reserve(int64_t batch, int64_t steps) {
  if (batch == batch_ && steps == steps_) return;
  const int64_t units = options_.units;
  detail::ensure_shape(x_, {steps, batch, features_});
  detail::ensure_shape(a_, {steps, batch, units});
  detail::ensure_shape(h_, {steps + 1, batch, units});
  detail::ensure_shape(da_, {steps, batch, units});
  detail::ensure_shape(dh_, {batch, units});
  detail::ensure_shape(dx_, {steps, batch, features_});
  batch_ = batch;
  steps_ = steps;
}

Tensor SimpleRNN::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  const int64_t batch = x.dim(0), steps = x.dim(1), units = options_.units;
  Tensor y = Tensor::uninitialized(options_.return_sequences ? Shape{batch, steps, units}
                                                             : Shape{batch, units});
  cached_ = false;
  if (batch == 0) return y;
  reserve(batch, steps);
  const int64_t rows = batch * units;  // one step's values
  detail::to_time_major(batch, steps, features_, options_.go_backwards, x.data(), x_.data());

  // Every step's input projection at once: a = X·W_ihᵀ + (b_ih + b_hh), [steps·batch, units].
  gemm(Trans::No, Trans::Yes, steps * batch, units, features_, 1.0f, x_.data(), features_,
       weight_ih_.value.data(), features_, 0.0f, a_.data(), units);
  if (options_.use_bias) {
    add(units, bias_ih_.value.data(), bias_hh_.value.data(), bias_sum_.data());
    add_row_vector(steps * batch, units, bias_sum_.data(), a_.data());
  }
  std::fill_n(h_.data(), rows, 0.0f);  // h_{−1}
  for (int64_t s = 0; s < steps; ++s) {
    float* a = a_.data() + s * rows;
    const float* h = h_.data() + s * rows;
    // a += h_{s−1}·W_hhᵀ; h_{−1} = 0 contributes nothing.
    if (s > 0) {
      gemm(Trans::No, Trans::Yes, batch, units, units, 1.0f, h, units, weight_hh_.value.data(),
           units, 1.0f, a, units);
    }
    activation_forward(activation_, alpha_, batch, units, a, h_.data() + (s + 1) * rows);
  }

  if (options_.return_sequences) {
    detail::from_time_major(batch, steps, units, false, h_.data() + rows, y.data());
  } else {
    std::copy_n(h_.data() + steps * rows, rows, y.data());
  }
  cached_ = mode == Mode::Train;
  return y;
}

Tensor SimpleRNN::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  const int64_t batch = batch_, steps = steps_, units = options_.units;
  detail::check_gradient_shape(
      who(), options_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units}, dy);
  const int64_t rows = batch * units;
  const bool reads_input = activation_backward_reads_input(activation_);

  // Through time, last step first: dh is the gradient with respect to h_s, from the output
  // and from step s + 1; da_s = dh ⊙ f'(a_s); dh_{s−1} = da_s·W_hh.
  if (options_.return_sequences) {
    std::fill_n(dh_.data(), rows, 0.0f);
  } else {
    std::copy_n(dy.data(), rows, dh_.data());
  }
  for (int64_t s = steps - 1; s >= 0; --s) {
    if (options_.return_sequences) detail::add_step(batch, steps, units, s, dy.data(), dh_.data());
    const float* a = a_.data() + s * rows;
    float* da = da_.data() + s * rows;
    activation_backward(activation_, alpha_, batch, units, reads_input ? a : nullptr,
                        h_.data() + (s + 1) * rows, dh_.data(), da);
    if (s > 0) {
      gemm(Trans::No, Trans::No, batch, units, units, 1.0f, da, units, weight_hh_.value.data(),
           units, 0.0f, dh_.data(), units);
    }
  }

  // Weight gradients over all steps at once: dW_ih += daᵀ·X, dW_hh += daᵀ·H_prev (step 0's
  // h_prev is 0 and is left out), biases += Σ da.
  gemm(Trans::Yes, Trans::No, units, features_, steps * batch, 1.0f, da_.data(), units, x_.data(),
       features_, 1.0f, weight_ih_.grad.data(), features_);
  if (steps > 1) {
    gemm(Trans::Yes, Trans::No, units, units, (steps - 1) * batch, 1.0f, da_.data() + rows, units,
         h_.data() + rows, units, 1.0f, weight_hh_.grad.data(), units);
  }
  if (options_.use_bias) {
    sum_rows_into(steps * batch, units, da_.data(), bias_ih_.grad.data());
    sum_rows_into(steps * batch, units, da_.data(), bias_hh_.grad.data());
  }
  if (!input_gradient_needed_) return Tensor();
  // dX = da·W_ih, then back to batch-major and the input's time order.
  gemm(Trans::No, Trans::No, steps * batch, features_, units, 1.0f, da_.data(), units,
       weight_ih_.value.data(), features_, 0.0f, dx_.data(), features_);
  Tensor dx = Tensor::uninitialized({batch, steps, features_});
  detail::from_time_major(batch, steps, features_, options_.go_backwards, dx_.data(), dx.data());
  return dx;
}

Tensor SimpleRNN::forward_reference(const Tensor& x) const {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  const int64_t batch = x.dim(0), steps = x.dim(1), units = options_.units;
  const int64_t features = features_;
  Tensor y(options_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units});
  const float* w_ih = weight_ih_.value.data();
  const float* w_hh = weight_hh_.value.data();
  std::vector<float> h(units), a(units);
  for (int64_t n = 0; n < batch; ++n) {
    std::fill(h.begin(), h.end(), 0.0f);
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = options_.go_backwards ? steps - 1 - s : s;
      const float* xt = x.data() + (n * steps + t) * features;
      for (int64_t i = 0; i < units; ++i) {
        double sum = options_.use_bias ? double{bias_ih_.value[i]} + bias_hh_.value[i] : 0.0;
        for (int64_t f = 0; f < features; ++f) sum += double{w_ih[i * features + f]} * xt[f];
        for (int64_t j = 0; j < units; ++j) sum += double{w_hh[i * units + j]} * h[j];
        a[i] = static_cast<float>(sum);
      }
      activation_forward_reference(activation_, alpha_, 1, units, a.data(), h.data());
      if (options_.return_sequences) {
        std::copy(h.begin(), h.end(), y.data() + (n * steps + s) * units);
      }
    }
    if (!options_.return_sequences) std::copy(h.begin(), h.end(), y.data() + n * units);
  }
  return y;
}

Tensor SimpleRNN::backward_reference(const Tensor& x, const Tensor& dy) {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  const int64_t batch = x.dim(0), steps = x.dim(1), units = options_.units;
  const int64_t features = features_;
  detail::check_gradient_shape(
      who(), options_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units}, dy);
  const float* w_ih = weight_ih_.value.data();
  const float* w_hh = weight_hh_.value.data();
  Tensor dx({batch, steps, features});
  // a[s] and h[s + 1] of one sample; h[0] = 0.
  std::vector<std::vector<float>> a(steps, std::vector<float>(units));
  std::vector<std::vector<float>> h(steps + 1, std::vector<float>(units, 0.0f));
  std::vector<float> dh(units), da(units);
  for (int64_t n = 0; n < batch; ++n) {
    auto input = [&](int64_t s) {
      const int64_t t = options_.go_backwards ? steps - 1 - s : s;
      return x.data() + (n * steps + t) * features;
    };
    for (int64_t s = 0; s < steps; ++s) {
      for (int64_t i = 0; i < units; ++i) {
        double sum = options_.use_bias ? double{bias_ih_.value[i]} + bias_hh_.value[i] : 0.0;
        for (int64_t f = 0; f < features; ++f) sum += double{w_ih[i * features + f]} * input(s)[f];
        for (int64_t j = 0; j < units; ++j) sum += double{w_hh[i * units + j]} * h[s][j];
        a[s][i] = static_cast<float>(sum);
      }
      activation_forward_reference(activation_, alpha_, 1, units, a[s].data(), h[s + 1].data());
    }
    std::fill(dh.begin(), dh.end(), 0.0f);
    for (int64_t s = steps - 1; s >= 0; --s) {
      for (int64_t i = 0; i < units; ++i) {
        if (options_.return_sequences) {
          dh[i] += dy[(n * steps + s) * units + i];
        } else if (s == steps - 1) {
          dh[i] += dy[n * units + i];
        }
      }
      activation_backward_reference(activation_, alpha_, 1, units, a[s].data(), dh.data(),
                                    da.data());
      const int64_t t = options_.go_backwards ? steps - 1 - s : s;
      for (int64_t i = 0; i < units; ++i) {
        for (int64_t f = 0; f < features; ++f) {
          weight_ih_.grad[i * features + f] += da[i] * input(s)[f];
          dx[(n * steps + t) * features + f] += da[i] * w_ih[i * features + f];
        }
        for (int64_t j = 0; j < units; ++j) weight_hh_.grad[i * units + j] += da[i] * h[s][j];
        if (options_.use_bias) {
          bias_ih_.grad[i] += da[i];
          bias_hh_.grad[i] += da[i];
        }
      }
      for (int64_t j = 0; j < units; ++j) {
        double sum = 0;
        for (int64_t i = 0; i < units; ++i) sum += double{da[i]} * w_hh[i * units + j];
        dh[j] = static_cast<float>(sum);
      }
    }
  }
  return dx;
}

std::vector<Param*> SimpleRNN::params() {
  if (options_.use_bias) return {&weight_ih_, &weight_hh_, &bias_ih_, &bias_hh_};
  return {&weight_ih_, &weight_hh_};
}

nlohmann::json SimpleRNN::config() const {
  return {{"type", "SimpleRNN"},
          {"units", options_.units},
          {"activation", activation_name(activation_)},
          {"use_bias", options_.use_bias},
          {"return_sequences", options_.return_sequences},
          {"go_backwards", options_.go_backwards},
          {"kernel_initializer", initializer_to_json(options_.kernel_initializer)},
          {"recurrent_initializer", initializer_to_json(options_.recurrent_initializer)},
          {"bias_initializer", initializer_to_json(options_.bias_initializer)}};
}

}  // namespace nnkit
