#include "nnkit/layers/lstm.h"

#include <algorithm>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/elementwise.h"
#include "nnkit/kernels/gemm.h"
#include "nnkit/kernels/threads.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

// The gate passes split batch × units over OpenMP threads from this many (batch · units)
// elements: below it a parallel region costs more than the step's arithmetic saves.
constexpr int64_t kParallelThreshold = 1 << 12;
// Units per parallel task: rows wider than this are split, so batch 1 with many units still
// spreads over the threads.
constexpr int64_t kUnitBlock = 256;

// Below this many multiply-adds in a step's recurrent product (batch · 4H · H), the time loop runs
// on one thread: splitting a product that small over threads costs more than it saves. For
// H = 128 that is batch < 8; measured at batch 1, 2 threads took 250 µs for a 64-step forward
// where one took 190 µs.
constexpr int64_t kThreadedStepMacs = 1 << 19;

// Sets the OpenMP thread count (which oneDNN's GEMM follows) to 1 for a scope when active,
// and puts the caller's count back when the scope ends.
class SingleThreadScope {
 public:
  explicit SingleThreadScope(bool active) : saved_(active ? num_threads() : 0) {
    if (active) set_num_threads(1);
  }
  ~SingleThreadScope() {
    if (saved_ > 0) set_num_threads(saved_);
  }
  SingleThreadScope(const SingleThreadScope&) = delete;
  SingleThreadScope& operator=(const SingleThreadScope&) = delete;

 private:
  int saved_;
};

// Runs body(task) for every task in [0, count), on OpenMP threads when parallel. Branching here
// rather than with an if clause matters: a parallel construct whose if clause is false still
// calls GOMP_parallel (a one-thread team and a futex system call, ~0.2 µs), twice per step.
template <typename Body>
void for_each_task(int64_t count, bool parallel, const Body& body) {
  if (parallel) {
#pragma omp parallel for
    for (int64_t task = 0; task < count; ++task) body(task);
  } else {
    for (int64_t task = 0; task < count; ++task) body(task);
  }
}

// dst[s, n, :] = src[n, t, :] with t = s, or T − 1 − s when reverse: [N, T, W] -> [T, N, W].
void to_time_major(const float* src, float* dst, int64_t batch, int64_t steps, int64_t width,
                   bool reverse) {
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    for (int64_t n = 0; n < batch; ++n) {
      std::copy_n(src + (n * steps + t) * width, width, dst + (s * batch + n) * width);
    }
  }
}

// The inverse of to_time_major: dst[n, t, :] = src[s, n, :], [T, N, W] -> [N, T, W].
void to_batch_major(const float* src, float* dst, int64_t batch, int64_t steps, int64_t width,
                    bool reverse) {
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    for (int64_t n = 0; n < batch; ++n) {
      std::copy_n(src + (s * batch + n) * width, width, dst + (n * steps + t) * width);
    }
  }
}

// Keeps t's storage when it already has this shape (its values are then stale).
void ensure_shape(Tensor& t, const Shape& shape) {
  if (t.shape() != shape) t = Tensor::uninitialized(shape);
}

Activation parse_elementwise_activation(const std::string& who, const std::string& name) {
  Activation a = detail::parse_activation(who, name);
  if (a == Activation::softmax) {
    throw ValueError(fmt::format(
        "{}: softmax is not element-wise; an LSTM applies its activations to each unit", who));
  }
  return a;
}

}  // namespace

LSTM::LSTM(LSTMOptions options) : options_(std::move(options)) {
  if (options_.units <= 0) {
    throw ValueError(fmt::format("LSTM: units must be positive, got {}", options_.units));
  }
  activation_ = parse_elementwise_activation(who(), options_.activation);
  recurrent_activation_ = parse_elementwise_activation(who(), options_.recurrent_activation);
  alpha_ = activation_default_alpha(activation_);
  recurrent_alpha_ = activation_default_alpha(recurrent_activation_);
  keep_preactivations_ = activation_backward_reads_input(activation_) ||
                         activation_backward_reads_input(recurrent_activation_);
}

std::unique_ptr<Layer> LSTM::from_config(const nlohmann::json& config) {
  detail::SpecReader args("LSTM", config);
  LSTMOptions o;
  args.require("units");
  o.units = args.get_int("units", 0);
  o.activation = args.get_string("activation", o.activation);
  o.recurrent_activation = args.get_string("recurrent_activation", o.recurrent_activation);
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.recurrent_initializer = args.get_initializer("recurrent_initializer", o.recurrent_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  o.unit_forget_bias = args.get_bool("unit_forget_bias", o.unit_forget_bias);
  o.return_sequences = args.get_bool("return_sequences", o.return_sequences);
  o.go_backwards = args.get_bool("go_backwards", o.go_backwards);
  args.finish();
  return std::make_unique<LSTM>(std::move(o));
}

std::string LSTM::who() const { return fmt::format("LSTM(units={})", options_.units); }

Shape LSTM::build(const Shape& input, Rng& rng) {
  if (input.size() != 2 || input[0] <= 0 || input[1] <= 0) {
    throw ShapeError(fmt::format(
        "{}: expected input [N, T, F] (batch, steps, features), got per-sample shape {}{}", who(),
        detail::batch_shape_string(input),
        input.size() == 1 ? "; give each sample a time axis, e.g. Reshape to [steps, features]"
                          : ""));
  }
  const int64_t units = options_.units, gates = 4 * units;
  steps_ = input[0];
  features_ = input[1];
  weight_ih_.value = Tensor({gates, features_});
  initialize(weight_ih_.value, options_.kernel_initializer, rng);
  weight_ih_.grad = Tensor({gates, features_});
  weight_hh_.value = Tensor({gates, units});
  initialize(weight_hh_.value, options_.recurrent_initializer, rng);
  weight_hh_.grad = Tensor({gates, units});
  if (options_.use_bias) {
    bias_ih_.value = Tensor({gates});
    initialize(bias_ih_.value, options_.bias_initializer, rng);
    if (options_.unit_forget_bias) std::fill_n(bias_ih_.value.data() + units, units, 1.0f);
    bias_ih_.grad = Tensor({gates});
    bias_hh_.value = Tensor({gates});
    bias_hh_.grad = Tensor({gates});
  }
  bias_ = Tensor::uninitialized({gates});
  // The time-major buffers are sized at the next forward.
  batch_ = 0;
  x_ = Tensor();
  cached_ = false;
  input_shape_ = input;
  output_shape_ = options_.return_sequences ? Shape{steps_, units} : Shape{units};
  return output_shape_;
}

void LSTM::reserve(int64_t batch, int64_t steps) {
  if (batch == batch_ && x_.shape() == Shape{steps, batch, features_}) return;
  const int64_t units = options_.units;
  x_ = Tensor::uninitialized({steps, batch, features_});
  preact_ = keep_preactivations_ ? Tensor::uninitialized({steps, batch, 4 * units}) : Tensor();
  gates_ = Tensor::uninitialized({steps, batch, 4 * units});
  // Zero-filled: index 0 is the initial state, never written.
  c_ = Tensor({steps + 1, batch, units});
  h_ = Tensor({steps + 1, batch, units});
  c_act_ = Tensor::uninitialized({steps, batch, units});
  batch_ = batch;
}

Tensor LSTM::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), steps_ > 0);
  if (x.rank() != 3 || x.dim(1) != steps_ || x.dim(2) != features_) {
    throw ShapeError(fmt::format("{}: expected input [N, T, F] = [N, {}, {}], got {}", who(),
                                 steps_, features_, shape_to_string(x.shape())));
  }
  const int64_t batch = x.dim(0), steps = steps_, units = options_.units, gates = 4 * units;
  reserve(batch, steps);
  cached_ = false;

  to_time_major(x.data(), x_.data(), batch, steps, features_, options_.go_backwards);
  // Every step's input projection in one GEMM: Z[T·N, 4H] = X·W_ihᵀ + b_ih + b_hh.
  float* z = keep_preactivations_ ? preact_.data() : gates_.data();
  gemm(Trans::No, Trans::Yes, steps * batch, gates, features_, 1.0f, x_.data(), features_,
       weight_ih_.value.data(), features_, 0.0f, z, gates);
  if (options_.use_bias) {
    add(gates, bias_ih_.value.data(), bias_hh_.value.data(), bias_.data());
    add_row_vector(steps * batch, gates, bias_.data(), z);
  }
  {
    SingleThreadScope one_thread(batch * gates * units < kThreadedStepMacs);
    for (int64_t s = 0; s < steps; ++s) {
      // Z_s += h_{s−1}·W_hhᵀ; h_{−1} = 0, so step 0 has nothing to add.
      if (s > 0) {
        gemm(Trans::No, Trans::Yes, batch, gates, units, 1.0f, h_.data() + s * batch * units, units,
             weight_hh_.value.data(), units, 1.0f, z + s * batch * gates, gates);
      }
      gates_forward(s);
    }
  }
  cached_ = mode == Mode::Train;

  const float* h_last = h_.data() + steps * batch * units;
  if (!options_.return_sequences) {
    Tensor y = Tensor::uninitialized({batch, units});
    std::copy_n(h_last, batch * units, y.data());
    return y;
  }
  // Keras returns the sequence in processed order, reversed too with go_backwards.
  Tensor y = Tensor::uninitialized({batch, steps, units});
  to_batch_major(h_.data() + batch * units, y.data(), batch, steps, units, false);
  return y;
}

void LSTM::gates_forward(int64_t s) {
  const int64_t batch = batch_, units = options_.units, gates = 4 * units;
  const int64_t blocks = (units + kUnitBlock - 1) / kUnitBlock;
  const float* z = (keep_preactivations_ ? preact_ : gates_).data() + s * batch * gates;
  float* gate = gates_.data() + s * batch * gates;
  const float* c_prev = c_.data() + s * batch * units;
  float* c = c_.data() + (s + 1) * batch * units;
  float* c_act = c_act_.data() + s * batch * units;
  float* h = h_.data() + (s + 1) * batch * units;
  const Activation act = activation_, rec = recurrent_activation_;
  const float alpha = alpha_, rec_alpha = recurrent_alpha_;

  for_each_task(batch * blocks, batch * units >= kParallelThreshold, [&](int64_t task) {
    const int64_t n = task / blocks, j0 = (task % blocks) * kUnitBlock;
    const int64_t len = std::min(kUnitBlock, units - j0);
    const float* zr = z + n * gates + j0;
    float* gr = gate + n * gates + j0;
    // Gate blocks i, f, g, o of this row, units [j0, j0 + len); in place when z is gates_.
    activation_forward(rec, rec_alpha, 1, len, zr, gr);
    activation_forward(rec, rec_alpha, 1, len, zr + units, gr + units);
    activation_forward(act, alpha, 1, len, zr + 2 * units, gr + 2 * units);
    activation_forward(rec, rec_alpha, 1, len, zr + 3 * units, gr + 3 * units);
    const float* i = gr;
    const float* f = gr + units;
    const float* g = gr + 2 * units;
    const float* o = gr + 3 * units;
    const int64_t at = n * units + j0;
    // c' = f ⊙ c + i ⊙ g, h' = o ⊙ activation(c').
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) c[at + j] = f[j] * c_prev[at + j] + i[j] * g[j];
    activation_forward(act, alpha, 1, len, c + at, c_act + at);
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) h[at + j] = o[j] * c_act[at + j];
  });
}

Tensor LSTM::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  const int64_t batch = batch_, steps = steps_, units = options_.units, gates = 4 * units;
  const Shape out = options_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units};
  detail::check_gradient_shape(who(), out, dy);

  ensure_shape(dgates_, {steps, batch, gates});
  ensure_shape(dh_, {steps, batch, units});
  ensure_shape(dc_, {batch, units});
  ensure_shape(dc_act_, {batch, units});
  ensure_shape(dbias_, {gates});
  // dh_[s] starts as dL/dh_s from the output; step s + 1 adds what flows back through W_hh.
  if (options_.return_sequences) {
    to_time_major(dy.data(), dh_.data(), batch, steps, units, false);
  } else {
    std::fill_n(dh_.data(), (steps - 1) * batch * units, 0.0f);
    std::copy_n(dy.data(), batch * units, dh_.data() + (steps - 1) * batch * units);
  }
  dc_.zero();
  {
    SingleThreadScope one_thread(batch * gates * units < kThreadedStepMacs);
    for (int64_t s = steps - 1; s >= 0; --s) {
      gates_backward(s);
      // dh_{s−1} += dG_s·W_hh.
      if (s > 0) {
        gemm(Trans::No, Trans::No, batch, units, gates, 1.0f, dgates_.data() + s * batch * gates,
             gates, weight_hh_.value.data(), units, 1.0f, dh_.data() + (s - 1) * batch * units,
             units);
      }
    }
  }

  // Weight gradients over all steps at once: the rows of dG [T·N, 4H] match those of the input
  // [T·N, F] and of h_{t−1} [T·N, H] (the first T·N rows of h_).
  const int64_t rows = steps * batch;
  gemm(Trans::Yes, Trans::No, gates, features_, rows, 1.0f, dgates_.data(), gates, x_.data(),
       features_, 1.0f, weight_ih_.grad.data(), features_);
  gemm(Trans::Yes, Trans::No, gates, units, rows, 1.0f, dgates_.data(), gates, h_.data(), units,
       1.0f, weight_hh_.grad.data(), units);
  if (options_.use_bias) {
    // Both biases enter the pre-activation the same way: the same gradient goes to each.
    dbias_.zero();
    sum_rows_into(rows, gates, dgates_.data(), dbias_.data());
    axpy(gates, 1.0f, dbias_.data(), bias_ih_.grad.data());
    axpy(gates, 1.0f, dbias_.data(), bias_hh_.grad.data());
  }
  if (!input_gradient_needed_) return Tensor();
  // dx = dG·W_ih, back to batch-major (and to input order with go_backwards).
  ensure_shape(dx_, {steps, batch, features_});
  gemm(Trans::No, Trans::No, rows, features_, gates, 1.0f, dgates_.data(), gates,
       weight_ih_.value.data(), features_, 0.0f, dx_.data(), features_);
  Tensor dx = Tensor::uninitialized({batch, steps, features_});
  to_batch_major(dx_.data(), dx.data(), batch, steps, features_, options_.go_backwards);
  return dx;
}

void LSTM::gates_backward(int64_t s) {
  const int64_t batch = batch_, units = options_.units, gates = 4 * units;
  const int64_t blocks = (units + kUnitBlock - 1) / kUnitBlock;
  const float* z = keep_preactivations_ ? preact_.data() + s * batch * gates : nullptr;
  const float* gate = gates_.data() + s * batch * gates;
  float* dgate = dgates_.data() + s * batch * gates;
  const float* dh = dh_.data() + s * batch * units;
  const float* c_prev = c_.data() + s * batch * units;
  const float* c = c_.data() + (s + 1) * batch * units;
  const float* c_act = c_act_.data() + s * batch * units;
  float* dc = dc_.data();
  float* dc_act = dc_act_.data();
  const Activation act = activation_, rec = recurrent_activation_;
  const float alpha = alpha_, rec_alpha = recurrent_alpha_;

  for_each_task(batch * blocks, batch * units >= kParallelThreshold, [&](int64_t task) {
    const int64_t n = task / blocks, j0 = (task % blocks) * kUnitBlock;
    const int64_t len = std::min(kUnitBlock, units - j0);
    const float* gr = gate + n * gates + j0;
    float* dgr = dgate + n * gates + j0;
    const float* i = gr;
    const float* f = gr + units;
    const float* g = gr + 2 * units;
    const float* o = gr + 3 * units;
    float* di = dgr;
    float* df = dgr + units;
    float* dg = dgr + 2 * units;
    float* d_o = dgr + 3 * units;
    const int64_t at = n * units + j0;
    // h = o ⊙ a(c): do = dh ⊙ a(c), and dh ⊙ o flows through a' into dc.
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) {
      d_o[j] = dh[at + j] * c_act[at + j];
      dc_act[at + j] = dh[at + j] * o[j];
    }
    activation_backward(act, alpha, 1, len, c + at, c_act + at, dc_act + at, dc_act + at);
    // c = f ⊙ c_prev + i ⊙ g: the gates' output gradients, and dc_prev = dc ⊙ f carried on.
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) {
      const float dc_total = dc[at + j] + dc_act[at + j];
      di[j] = dc_total * g[j];
      df[j] = dc_total * c_prev[at + j];
      dg[j] = dc_total * i[j];
      dc[at + j] = dc_total * f[j];
    }
    // Through the activations, in place (dx may alias dy).
    const float* zr = z ? z + n * gates + j0 : nullptr;
    activation_backward(rec, rec_alpha, 1, len, zr, i, di, di);
    activation_backward(rec, rec_alpha, 1, len, zr ? zr + units : nullptr, f, df, df);
    activation_backward(act, alpha, 1, len, zr ? zr + 2 * units : nullptr, g, dg, dg);
    activation_backward(rec, rec_alpha, 1, len, zr ? zr + 3 * units : nullptr, o, d_o, d_o);
  });
}

std::vector<Param*> LSTM::params() {
  if (options_.use_bias) return {&weight_ih_, &weight_hh_, &bias_ih_, &bias_hh_};
  return {&weight_ih_, &weight_hh_};
}

nlohmann::json LSTM::config() const {
  return {{"type", "LSTM"},
          {"units", options_.units},
          {"activation", activation_name(activation_)},
          {"recurrent_activation", activation_name(recurrent_activation_)},
          {"use_bias", options_.use_bias},
          {"kernel_initializer", initializer_to_json(options_.kernel_initializer)},
          {"recurrent_initializer", initializer_to_json(options_.recurrent_initializer)},
          {"bias_initializer", initializer_to_json(options_.bias_initializer)},
          {"unit_forget_bias", options_.unit_forget_bias},
          {"return_sequences", options_.return_sequences},
          {"go_backwards", options_.go_backwards}};
}

}  // namespace nnkit
