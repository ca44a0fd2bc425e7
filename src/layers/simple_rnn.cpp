#include "nnkit/layers/simple_rnn.h"

#include <algorithm>
#include <vector>

#include "batch_one.h"
#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/elementwise.h"
#include "nnkit/kernels/gemm.h"
#include "nnkit/kernels/gemv.h"
#include "sequence_layout.h"
#include "spec_reader.h"

namespace nnkit {

SimpleRNN::SimpleRNN(SimpleRNNOptions options)
    : Recurrent("SimpleRNN", detail::shared_args(options)), options_(std::move(options)) {
  activation_ = detail::parse_elementwise_activation(who(), "activation", options_.activation);
  alpha_ = activation_default_alpha(activation_);
}

std::unique_ptr<Layer> SimpleRNN::from_config(const nlohmann::json& config) {
  detail::SpecReader args("SimpleRNN", config);
  SimpleRNNOptions o;
  detail::set_shared_args(read_args(args), o);
  // Keras writes "activation": null for linear.
  o.activation = args.get_string("activation", args.has("activation") ? "linear" : o.activation);
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.recurrent_initializer = args.get_initializer("recurrent_initializer", o.recurrent_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  args.finish();
  return std::make_unique<SimpleRNN>(std::move(o));
}

void SimpleRNN::build_cell(int64_t features, Rng& rng) {
  const int64_t units = args_.units;
  weight_ih_.value = Tensor({units, features});
  initialize(weight_ih_.value, options_.kernel_initializer, rng);
  weight_ih_.grad = Tensor({units, features});
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
  batch_ = time_ = 0;
  cached_ = false;
}

void SimpleRNN::reserve(int64_t batch, int64_t steps) {
  if (batch == batch_ && steps == time_) return;
  const int64_t units = args_.units;
  detail::ensure_shape(x_, {steps, batch, features_});
  detail::ensure_shape(a_, {steps, batch, units});
  detail::ensure_shape(h_, {steps + 1, batch, units});
  detail::ensure_shape(da_, {steps, batch, units});
  detail::ensure_shape(dh_, {batch, units});
  detail::ensure_shape(dh_prev_, {batch, units});
  detail::ensure_shape(dx_, {steps, batch, features_});
  batch_ = batch;
  time_ = steps;
}

Tensor SimpleRNN::forward_sequence(const Tensor& x, const std::vector<Tensor>& initial,
                                   const float* step_mask, Mode mode) {
  const int64_t batch = x.dim(0), steps = x.dim(1), units = args_.units;
  Tensor y = Tensor::uninitialized(args_.return_sequences ? Shape{batch, steps, units}
                                                          : Shape{batch, units});
  cached_ = false;
  final_state_.resize(1);
  // Assigned into, not replaced: step() then reuses the storage.
  detail::ensure_shape(final_state_[0], {batch, units});
  if (batch == 0) return y;
  reserve(batch, steps);
  const int64_t rows = batch * units;  // one step's values
  detail::to_time_major(batch, steps, features_, args_.go_backwards, x.data(), x_.data());

  // Every step's input projection at once: a = X·W_ihᵀ + (b_ih + b_hh), [steps·batch, units].
  gemm(Trans::No, Trans::Yes, steps * batch, units, features_, 1.0f, x_.data(), features_,
       weight_ih_.value.data(), features_, 0.0f, a_.data(), units);
  if (options_.use_bias) {
    add(units, bias_ih_.value.data(), bias_hh_.value.data(), bias_sum_.data());
    add_row_vector(steps * batch, units, bias_sum_.data(), a_.data());
  }
  const float* h0 = initial[0].data();
  std::copy_n(h0, rows, h_.data());  // h_{−1}
  zero_start_ = std::all_of(h0, h0 + rows, [](float v) { return v == 0.0f; });
  for (int64_t s = 0; s < steps; ++s) {
    float* a = a_.data() + s * rows;
    const float* h = h_.data() + s * rows;
    float* h_next = h_.data() + (s + 1) * rows;
    // a += h_{s−1}·W_hhᵀ; a zero h_{−1} contributes nothing.
    if ((s > 0 || !zero_start_) && detail::use_gemv(batch)) {
      gemv(units, units, weight_hh_.value.data(), units, h, a, /*accumulate=*/true);
    } else if (s > 0 || !zero_start_) {
      gemm(Trans::No, Trans::Yes, batch, units, units, 1.0f, h, units, weight_hh_.value.data(),
           units, 1.0f, a, units);
    }
    activation_forward(activation_, alpha_, batch, units, a, h_next);
    if (step_mask != nullptr)
      detail::carry_masked_rows(batch, units, step_mask + s * batch, h, h_next);
  }

  if (args_.return_sequences) {
    detail::from_time_major(batch, steps, units, false, h_.data() + rows, y.data());
  } else {
    std::copy_n(h_.data() + steps * rows, rows, y.data());
  }
  std::copy_n(h_.data() + steps * rows, rows, final_state_[0].data());
  step_mask_ = step_mask;
  cached_ = mode == Mode::Train;
  return y;
}

Tensor SimpleRNN::backward_sequence(const Tensor& dy, const std::vector<Tensor>& dfinal) {
  detail::check_forward_cache(who(), cached_);
  const int64_t batch = batch_, steps = time_, units = args_.units;
  detail::check_gradient_shape(
      who(), args_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units}, dy);
  const int64_t rows = batch * units;
  const bool reads_input = activation_backward_reads_input(activation_);

  // Through time, last step first: dh is the gradient with respect to h_s, from the output,
  // from step s + 1 and, at the last step, from the final state; da_s = dh ⊙ f'(a_s);
  // dh_{s−1} = da_s·W_hh.
  if (args_.return_sequences) {
    std::fill_n(dh_.data(), rows, 0.0f);
  } else {
    std::copy_n(dy.data(), rows, dh_.data());
  }
  if (!dfinal.empty()) axpy(rows, 1.0f, dfinal[0].data(), dh_.data());
  for (int64_t s = steps - 1; s >= 0; --s) {
    if (args_.return_sequences) detail::add_step(batch, steps, units, s, dy.data(), dh_.data());
    const float* a = a_.data() + s * rows;
    float* da = da_.data() + s * rows;
    activation_backward(activation_, alpha_, batch, units, reads_input ? a : nullptr,
                        h_.data() + (s + 1) * rows, dh_.data(), da);
    const float* mask = step_mask_ != nullptr ? step_mask_ + s * batch : nullptr;
    if (mask != nullptr) detail::zero_masked_rows(batch, units, mask, da);
    // Also at s = 0: dh_{−1} is the initial state's gradient.
    if (detail::use_gemv(batch)) {
      gemv_transposed(units, units, weight_hh_.value.data(), units, da, dh_prev_.data(),
                      /*accumulate=*/false);
    } else {
      gemm(Trans::No, Trans::No, batch, units, units, 1.0f, da, units, weight_hh_.value.data(),
           units, 0.0f, dh_prev_.data(), units);
    }
    if (mask != nullptr) detail::carry_masked_rows(batch, units, mask, dh_.data(), dh_prev_.data());
    std::swap(dh_, dh_prev_);
  }
  initial_state_grad_.resize(1);
  detail::ensure_shape(initial_state_grad_[0], {batch, units});
  std::copy_n(dh_.data(), rows, initial_state_grad_[0].data());

  // Weight gradients over all steps at once: dW_ih += daᵀ·X, dW_hh += daᵀ·H_prev (step 0 left
  // out when h_{−1} was zero), biases += Σ da.
  gemm(Trans::Yes, Trans::No, units, features_, steps * batch, 1.0f, da_.data(), units, x_.data(),
       features_, 1.0f, weight_ih_.grad.data(), features_);
  const int64_t first = zero_start_ ? 1 : 0;
  if (steps > first) {
    gemm(Trans::Yes, Trans::No, units, units, (steps - first) * batch, 1.0f,
         da_.data() + first * rows, units, h_.data() + first * rows, units, 1.0f,
         weight_hh_.grad.data(), units);
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
  detail::from_time_major(batch, steps, features_, args_.go_backwards, dx_.data(), dx.data());
  return dx;
}

Tensor SimpleRNN::forward_reference(const Tensor& x, const ReferenceState& state) const {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  const int64_t batch = x.dim(0), steps = x.dim(1), units = args_.units;
  const int64_t features = features_;
  detail::check_reference_state(who(), x, units, state.initial, state.mask, Tensor());
  Tensor y(args_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units});
  const float* w_ih = weight_ih_.value.data();
  const float* w_hh = weight_hh_.value.data();
  std::vector<float> h(units), a(units);
  for (int64_t n = 0; n < batch; ++n) {
    std::fill(h.begin(), h.end(), 0.0f);
    if (!state.initial.empty()) std::copy_n(state.initial.data() + n * units, units, h.begin());
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = args_.go_backwards ? steps - 1 - s : s;
      // A padded step leaves h as it was.
      if (detail::reference_holds_data(state.mask, n, steps, t)) {
        const float* xt = x.data() + (n * steps + t) * features;
        for (int64_t i = 0; i < units; ++i) {
          double sum = options_.use_bias ? double{bias_ih_.value[i]} + bias_hh_.value[i] : 0.0;
          for (int64_t f = 0; f < features; ++f) sum += double{w_ih[i * features + f]} * xt[f];
          for (int64_t j = 0; j < units; ++j) sum += double{w_hh[i * units + j]} * h[j];
          a[i] = static_cast<float>(sum);
        }
        activation_forward_reference(activation_, alpha_, 1, units, a.data(), h.data());
      }
      if (args_.return_sequences) {
        std::copy(h.begin(), h.end(), y.data() + (n * steps + s) * units);
      }
    }
    if (!args_.return_sequences) std::copy(h.begin(), h.end(), y.data() + n * units);
  }
  return y;
}

Tensor SimpleRNN::backward_reference(const Tensor& x, const Tensor& dy, const ReferenceState& state,
                                     Tensor* dinitial) {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  const int64_t batch = x.dim(0), steps = x.dim(1), units = args_.units;
  const int64_t features = features_;
  detail::check_gradient_shape(
      who(), args_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units}, dy);
  detail::check_reference_state(who(), x, units, state.initial, state.mask, state.dfinal);
  const float* w_ih = weight_ih_.value.data();
  const float* w_hh = weight_hh_.value.data();
  Tensor dx({batch, steps, features});
  if (dinitial != nullptr) *dinitial = Tensor({batch, units});
  // a[s] and h[s + 1] of one sample; h[0] is the initial state.
  std::vector<std::vector<float>> a(steps, std::vector<float>(units));
  std::vector<std::vector<float>> h(steps + 1, std::vector<float>(units, 0.0f));
  std::vector<float> dh(units), da(units);
  for (int64_t n = 0; n < batch; ++n) {
    auto time = [&](int64_t s) { return args_.go_backwards ? steps - 1 - s : s; };
    auto input = [&](int64_t s) { return x.data() + (n * steps + time(s)) * features; };
    auto data = [&](int64_t s) {
      return detail::reference_holds_data(state.mask, n, steps, time(s));
    };
    std::fill(h[0].begin(), h[0].end(), 0.0f);
    if (!state.initial.empty()) std::copy_n(state.initial.data() + n * units, units, h[0].begin());
    for (int64_t s = 0; s < steps; ++s) {
      if (!data(s)) {
        h[s + 1] = h[s];
        continue;
      }
      for (int64_t i = 0; i < units; ++i) {
        double sum = options_.use_bias ? double{bias_ih_.value[i]} + bias_hh_.value[i] : 0.0;
        for (int64_t f = 0; f < features; ++f) sum += double{w_ih[i * features + f]} * input(s)[f];
        for (int64_t j = 0; j < units; ++j) sum += double{w_hh[i * units + j]} * h[s][j];
        a[s][i] = static_cast<float>(sum);
      }
      activation_forward_reference(activation_, alpha_, 1, units, a[s].data(), h[s + 1].data());
    }
    std::fill(dh.begin(), dh.end(), 0.0f);
    if (!state.dfinal.empty()) std::copy_n(state.dfinal.data() + n * units, units, dh.begin());
    for (int64_t s = steps - 1; s >= 0; --s) {
      for (int64_t i = 0; i < units; ++i) {
        if (args_.return_sequences) {
          dh[i] += dy[(n * steps + s) * units + i];
        } else if (s == steps - 1) {
          dh[i] += dy[n * units + i];
        }
      }
      if (!data(s)) continue;  // h_s = h_{s−1}: dh passes through
      activation_backward_reference(activation_, alpha_, 1, units, a[s].data(), dh.data(),
                                    da.data());
      for (int64_t i = 0; i < units; ++i) {
        for (int64_t f = 0; f < features; ++f) {
          weight_ih_.grad[i * features + f] += da[i] * input(s)[f];
          dx[(n * steps + time(s)) * features + f] += da[i] * w_ih[i * features + f];
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
    if (dinitial != nullptr) std::copy(dh.begin(), dh.end(), dinitial->data() + n * units);
  }
  return dx;
}

std::vector<Param*> SimpleRNN::params() {
  if (options_.use_bias) return {&weight_ih_, &weight_hh_, &bias_ih_, &bias_hh_};
  return {&weight_ih_, &weight_hh_};
}

nlohmann::json SimpleRNN::config() const {
  nlohmann::json config = {
      {"type", "SimpleRNN"},
      {"activation", activation_name(activation_)},
      {"use_bias", options_.use_bias},
      {"kernel_initializer", initializer_to_json(options_.kernel_initializer)},
      {"recurrent_initializer", initializer_to_json(options_.recurrent_initializer)},
      {"bias_initializer", initializer_to_json(options_.bias_initializer)}};
  write_args(config);
  return config;
}

}  // namespace nnkit
