#include "nnkit/layers/lstm.h"

#include <algorithm>

#include "batch_one.h"
#include "fmt/format.h"
#include "kernels/fast_math.h"
#include "kernels/vector_math.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/elementwise.h"
#include "nnkit/kernels/gemm.h"
#include "nnkit/kernels/gemv.h"
#include "nnkit/kernels/threads.h"
#include "nnkit/kernels/transpose.h"
#include "row_parts.h"
#include "sequence_layout.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

// The gate passes split batch × units over OpenMP threads from this many (batch · units)
// elements: below it a parallel region costs more than the step's arithmetic saves.
constexpr int64_t kParallelThreshold = 1 << 12;
// Units per parallel task: rows wider than this are split, so batch 1 with many units still
// spreads over the threads.
constexpr int64_t kUnitBlock = 256;

// Below this many multiply-adds in a step's recurrent product (batch · 4H · H), a whole forward or
// backward runs on one thread: splitting a product that small over threads costs more than it
// saves. For H = 128 that is batch < 8; measured at batch 1, 2 threads took 250 µs for a 64-step
// forward where one took 190 µs. The weight-gradient GEMMs after the time loop follow: on a
// quiet machine the second thread gains them a few per cent of a batch-1 step, on a busy one a
// barrier that waits for a descheduled thread costs milliseconds (bench/README.md).
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

// The activations of a cell: activation (g and the cell output), recurrent_activation (the
// gates i, f, o), with their alphas.
struct CellActivations {
  Activation act, rec;
  float alpha, rec_alpha;

  // Keras's and PyTorch's defaults (tanh, sigmoid gates), which the gate passes fuse into one
  // loop (the general path makes seven passes over each row's gates and states).
  bool fused() const { return act == Activation::tanh && rec == Activation::sigmoid; }
};

// The element-wise pass of one row's units [0, len): the gates from the pre-activations z,
// whose blocks i, f, g, o start `stride` apart (in place when z is gate), then
// c = f ⊙ c_prev + i ⊙ g and h = o ⊙ activation(c). c may alias c_prev.
void cell_block(const CellActivations& a, int64_t len, int64_t stride, const float* z, float* gate,
                const float* c_prev, float* c, float* c_act, float* h) {
  if (a.fused()) {
    // z may be gate and c may be c_prev: each unit is read before it is written.
#ifdef __AVX512F__
    // vector_math.h's table-driven exp: the pass takes 149 ns for 128 units where the
    // vectorised scalar forms below take 252 (probe), and a batch-1 step waits on it.
    for (int64_t j = 0; j < len; j += 16) {
      const __mmask16 m = detail::lanes16(len - j);
      const __m512 zi = _mm512_maskz_loadu_ps(m, z + j);
      const __m512 zf = _mm512_maskz_loadu_ps(m, z + stride + j);
      const __m512 zg = _mm512_maskz_loadu_ps(m, z + 2 * stride + j);
      const __m512 zo = _mm512_maskz_loadu_ps(m, z + 3 * stride + j);
      const __m512 cp = _mm512_maskz_loadu_ps(m, c_prev + j);
      const __m512 i = detail::sigmoid16(zi), f = detail::sigmoid16(zf);
      const __m512 g = detail::tanh16(zg), o = detail::sigmoid16(zo);
      const __m512 cj = _mm512_fmadd_ps(f, cp, _mm512_mul_ps(i, g));
      const __m512 ca = detail::tanh16(cj);
      _mm512_mask_storeu_ps(gate + j, m, i);
      _mm512_mask_storeu_ps(gate + stride + j, m, f);
      _mm512_mask_storeu_ps(gate + 2 * stride + j, m, g);
      _mm512_mask_storeu_ps(gate + 3 * stride + j, m, o);
      _mm512_mask_storeu_ps(c + j, m, cj);
      _mm512_mask_storeu_ps(c_act + j, m, ca);
      _mm512_mask_storeu_ps(h + j, m, _mm512_mul_ps(o, ca));
    }
#else
#pragma omp simd
    for (int64_t j = 0; j < len; ++j) {
      const float i = detail::fast_sigmoid(z[j]);
      const float f = detail::fast_sigmoid(z[stride + j]);
      const float g = detail::fast_tanh(z[2 * stride + j]);
      const float o = detail::fast_sigmoid(z[3 * stride + j]);
      gate[j] = i;
      gate[stride + j] = f;
      gate[2 * stride + j] = g;
      gate[3 * stride + j] = o;
      const float cj = f * c_prev[j] + i * g;
      const float ca = detail::fast_tanh(cj);
      c[j] = cj;
      c_act[j] = ca;
      h[j] = o * ca;
    }
#endif
    return;
  }
  activation_forward(a.rec, a.rec_alpha, 1, len, z, gate);
  activation_forward(a.rec, a.rec_alpha, 1, len, z + stride, gate + stride);
  activation_forward(a.act, a.alpha, 1, len, z + 2 * stride, gate + 2 * stride);
  activation_forward(a.rec, a.rec_alpha, 1, len, z + 3 * stride, gate + 3 * stride);
  const float* i = gate;
  const float* f = gate + stride;
  const float* g = gate + 2 * stride;
  const float* o = gate + 3 * stride;
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) c[j] = f[j] * c_prev[j] + i[j] * g[j];
  activation_forward(a.act, a.alpha, 1, len, c, c_act);
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) h[j] = o[j] * c_act[j];
}

// One step's element-wise pass over [batch] rows of [4H] pre-activations z, by cell_block on
// blocks of units. parallel: split the rows over OpenMP threads when they are many enough to pay.
void cell_forward(const CellActivations& a, int64_t batch, int64_t units, const float* z,
                  float* gate, const float* c_prev, float* c, float* c_act, float* h,
                  bool parallel = true) {
  const int64_t gates = 4 * units, blocks = (units + kUnitBlock - 1) / kUnitBlock;
  parallel = parallel && batch * units >= kParallelThreshold;
  for_each_task(batch * blocks, parallel, [&](int64_t task) {
    const int64_t n = task / blocks, j0 = (task % blocks) * kUnitBlock;
    const int64_t len = std::min(kUnitBlock, units - j0), at = n * units + j0;
    cell_block(a, len, units, z + n * gates + j0, gate + n * gates + j0, c_prev + at, c + at,
               c_act + at, h + at);
  });
}

// A step() of a batch of streams splits its rows over the threads from this many multiply-adds
// in its product (batch · 4H · (F + H)): one parallel region a step costs a few µs, so at
// LSTM(128) with 6 features 2 threads were slower up to batch 16 (14.8 against 10.1 µs at 8)
// and faster from 32 (32 against 41 µs).
constexpr int64_t kThreadedStreamMacs = 1 << 21;

// A batch-1 step() orders its packed weights in panels of the four gates of this many units
// (pack_step_weights), padded to whole panels: step_gate_rows rows in all.
constexpr int64_t kStepBlockUnits = kPackedPanelRows / 4;
int64_t step_gate_rows(int64_t units) {
  return (units + kStepBlockUnits - 1) / kStepBlockUnits * kPackedPanelRows;
}
// From this many rows (steps · batch) the weight gradients are computed transposed and added
// transposed (kernels/transpose.h); below it the transposing add costs more than the faster GEMM
// saves (batch 1, 64 steps, LSTM(128): 0.46 ms a training step against 0.44).
constexpr int64_t kTransposedGradientRows = 256;

// dst[n, :] = src[n, :] where mask[n] is 0 (a masked sample keeps its state), for [N, H] rows.
void copy_masked_rows(int64_t batch, int64_t units, const float* mask, const float* src,
                      float* dst) {
  for (int64_t n = 0; n < batch; ++n) {
    if (mask[n] == 0.0f) std::copy_n(src + n * units, units, dst + n * units);
  }
}

}  // namespace

LSTM::LSTM(LSTMOptions options)
    : Recurrent("LSTM", detail::shared_args(options)), options_(std::move(options)) {
  activation_ = detail::parse_elementwise_activation(who(), "activation", options_.activation);
  recurrent_activation_ = detail::parse_elementwise_activation(who(), "recurrent_activation",
                                                               options_.recurrent_activation);
  alpha_ = activation_default_alpha(activation_);
  recurrent_alpha_ = activation_default_alpha(recurrent_activation_);
  keep_preactivations_ = activation_backward_reads_input(activation_) ||
                         activation_backward_reads_input(recurrent_activation_);
}

std::unique_ptr<Layer> LSTM::from_config(const nlohmann::json& config) {
  detail::SpecReader args("LSTM", config);
  LSTMOptions o;
  detail::set_shared_args(read_args(args), o);
  o.activation = args.get_string("activation", o.activation);
  o.recurrent_activation = args.get_string("recurrent_activation", o.recurrent_activation);
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.recurrent_initializer = args.get_initializer("recurrent_initializer", o.recurrent_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  o.unit_forget_bias = args.get_bool("unit_forget_bias", o.unit_forget_bias);
  args.finish();
  return std::make_unique<LSTM>(std::move(o));
}

void LSTM::build_cell(int64_t features, Rng& rng) {
  const int64_t units = args_.units, gates = 4 * units;
  weight_ih_.value = Tensor({gates, features});
  initialize(weight_ih_.value, options_.kernel_initializer, rng);
  weight_ih_.grad = Tensor({gates, features});
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
  step_weights_stale_ = true;
  // The time-major buffers are sized at the next forward.
  batch_ = 0;
  steps_run_ = 0;
  x_ = Tensor();
  cached_ = false;
}

void LSTM::reserve(int64_t batch, int64_t steps) {
  if (batch == batch_ && steps == steps_run_) return;
  const int64_t units = args_.units;
  x_ = Tensor::uninitialized({steps, batch, features_});
  preact_ = keep_preactivations_ ? Tensor::uninitialized({steps, batch, 4 * units}) : Tensor();
  gates_ = Tensor::uninitialized({steps, batch, 4 * units});
  c_ = Tensor::uninitialized({steps + 1, batch, units});
  h_ = Tensor::uninitialized({steps + 1, batch, units});
  c_act_ = Tensor::uninitialized({steps, batch, units});
  batch_ = batch;
  steps_run_ = steps;
}

Tensor LSTM::forward_sequence(const Tensor& x, const std::vector<Tensor>& initial,
                              const float* step_mask, Mode mode) {
  const int64_t batch = x.dim(0), steps = x.dim(1), units = args_.units, gates = 4 * units;
  SingleThreadScope one_thread(batch * gates * units < kThreadedStepMacs);
  reserve(batch, steps);
  cached_ = false;

  detail::to_time_major(batch, steps, features_, args_.go_backwards, x.data(), x_.data());
  std::copy_n(initial[0].data(), batch * units, h_.data());
  std::copy_n(initial[1].data(), batch * units, c_.data());
  // Every step's input projection in one GEMM: Z[T·N, 4H] = X·W_ihᵀ + b_ih + b_hh.
  float* z = keep_preactivations_ ? preact_.data() : gates_.data();
  gemm_split_columns(Trans::No, Trans::Yes, steps * batch, gates, features_, 1.0f, x_.data(),
                     features_, weight_ih_.value.data(), features_, 0.0f, z, gates);
  if (options_.use_bias) {
    add(gates, bias_ih_.value.data(), bias_hh_.value.data(), bias_.data());
    add_row_vector(steps * batch, gates, bias_.data(), z);
  }
  // Z_s += h_{s−1}·W_hhᵀ. A zero initial h (the usual start) adds nothing at step 0: skip it.
  const bool zero_start =
      std::all_of(h_.data(), h_.data() + batch * units, [](float v) { return v == 0.0f; });
  // A packed copy made anew for each long enough batch-1 forward (batch_one.h).
  const bool packed = detail::use_gemv(batch) && steps >= detail::kPackFromSteps;
  if (packed) pack_rows(weight_hh_.value.data(), gates, units, units, packed_weight_hh_);
  // Each thread its own rows through every step (row_parts.h); on one share the gate passes
  // may still split over threads.
  const int parts = detail::row_parts(batch, batch * gates * units, kThreadedStepMacs);
  // Shares of more than one row multiply by W_hhᵀ stored [H, 4H], transposed here once: oneDNN
  // runs h·W_hhᵀ faster that way than with the transpose left to it (kernels/transpose.h).
  const bool transposed = !packed && !(gemv_is_vectorized() && batch <= parts);
  if (transposed) {
    detail::ensure_shape(weight_hh_t_, {units, gates});
    transpose(gates, units, weight_hh_.value.data(), weight_hh_t_.data());
  }
  // Rows [n0, n1) of Z_s += h_{s−1}·W_hhᵀ (packed: batch 1).
  auto add_recurrent = [&](int64_t s, int64_t n0, int64_t n1) {
    if (s == 0 && zero_start) return;
    const float* h_prev = h_.data() + (s * batch + n0) * units;
    float* z_s = z + (s * batch + n0) * gates;
    if (packed) {
      gemv_packed(packed_weight_hh_, h_prev, z_s, /*accumulate=*/true);
    } else if (detail::use_gemv(n1 - n0)) {
      gemv(gates, units, weight_hh_.value.data(), units, h_prev, z_s, /*accumulate=*/true);
    } else {
      gemm(Trans::No, Trans::No, n1 - n0, gates, units, 1.0f, h_prev, units, weight_hh_t_.data(),
           gates, 1.0f, z_s, gates);
    }
  };
  detail::for_each_row_part(batch, parts, [&](int64_t n0, int64_t n1) {
    // Two loops rather than a test per step: the unmasked path stays as it was.
    if (step_mask == nullptr) {
      for (int64_t s = 0; s < steps; ++s) {
        add_recurrent(s, n0, n1);
        gates_forward(s, n0, n1, parts == 1);
      }
    } else {
      for (int64_t s = 0; s < steps; ++s) {
        add_recurrent(s, n0, n1);
        gates_forward(s, n0, n1, parts == 1);
        carry_masked_rows(s, step_mask + s * batch, n0, n1);
      }
    }
  });
  cached_ = mode == Mode::Train;
  cached_mask_ = step_mask;

  const float* h_last = h_.data() + steps * batch * units;
  const float* c_last = c_.data() + steps * batch * units;
  final_state_.resize(2);
  for (Tensor& state : final_state_) detail::ensure_shape(state, {batch, units});
  std::copy_n(h_last, batch * units, final_state_[0].data());
  std::copy_n(c_last, batch * units, final_state_[1].data());
  if (!args_.return_sequences) {
    Tensor y = Tensor::uninitialized({batch, units});
    std::copy_n(h_last, batch * units, y.data());
    return y;
  }
  // Keras returns the sequence in processed order, reversed too with go_backwards.
  Tensor y = Tensor::uninitialized({batch, steps, units});
  detail::from_time_major(batch, steps, units, false, h_.data() + batch * units, y.data());
  return y;
}

void LSTM::carry_masked_rows(int64_t s, const float* mask, int64_t n0, int64_t n1) {
  const int64_t batch = batch_, units = args_.units;
  const int64_t now = (s * batch + n0) * units, next = ((s + 1) * batch + n0) * units;
  copy_masked_rows(n1 - n0, units, mask + n0, h_.data() + now, h_.data() + next);
  copy_masked_rows(n1 - n0, units, mask + n0, c_.data() + now, c_.data() + next);
}

void LSTM::gates_forward(int64_t s, int64_t n0, int64_t n1, bool parallel) {
  const int64_t batch = batch_, units = args_.units, gates = 4 * units;
  const int64_t row = s * batch + n0;  // the first row's index in the [T, N, ...] buffers
  cell_forward({activation_, recurrent_activation_, alpha_, recurrent_alpha_}, n1 - n0, units,
               (keep_preactivations_ ? preact_ : gates_).data() + row * gates,
               gates_.data() + row * gates, c_.data() + row * units,
               c_.data() + (row + batch) * units, c_act_.data() + row * units,
               h_.data() + (row + batch) * units, parallel);
}

Tensor LSTM::backward_sequence(const Tensor& dy, const std::vector<Tensor>& dfinal) {
  detail::check_forward_cache(who(), cached_);
  const int64_t batch = batch_, steps = steps_run_, units = args_.units, gates = 4 * units;
  const Shape out = args_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units};
  detail::check_gradient_shape(who(), out, dy);
  SingleThreadScope one_thread(batch * gates * units < kThreadedStepMacs);

  detail::ensure_shape(dgates_, {steps, batch, gates});
  detail::ensure_shape(dh_, {steps + 1, batch, units});
  detail::ensure_shape(dc_, {batch, units});
  detail::ensure_shape(dc_act_, {batch, units});
  detail::ensure_shape(dbias_, {gates});
  // dh_[s + 1] starts as dL/dh_s from the output (and the final state's gradient); step s + 1
  // adds what flows back through W_hh.
  float* dh_last = dh_.data() + steps * batch * units;
  if (args_.return_sequences) {
    detail::to_time_major(batch, steps, units, false, dy.data(), dh_.data() + batch * units);
  } else {
    std::fill_n(dh_.data() + batch * units, (steps - 1) * batch * units, 0.0f);
    std::copy_n(dy.data(), batch * units, dh_last);
  }
  if (dfinal.empty()) {
    dc_.zero();
  } else {
    axpy(batch * units, 1.0f, dfinal[0].data(), dh_last);
    std::copy_n(dfinal[1].data(), batch * units, dc_.data());
  }
  // dh_{s−1} = dG_s·W_hh (+ what the output gave h_{s−1}); at s = 0 into the initial h's
  // gradient, which starts at zero.
  std::fill_n(dh_.data(), batch * units, 0.0f);
  // Rows [n0, n1) of dh_{s−1} += dG_s·W_hh.
  auto add_recurrent = [&](int64_t s, int64_t n0, int64_t n1) {
    const float* dg = dgates_.data() + (s * batch + n0) * gates;
    float* dh_prev = dh_.data() + (s * batch + n0) * units;
    if (detail::use_gemv(n1 - n0)) {
      gemv_transposed(gates, units, weight_hh_.value.data(), units, dg, dh_prev, true);
    } else {
      gemm(Trans::No, Trans::No, n1 - n0, units, gates, 1.0f, dg, gates, weight_hh_.value.data(),
           units, 1.0f, dh_prev, units);
    }
  };
  if (cached_mask_ != nullptr) detail::ensure_shape(dc_saved_, {batch, units});
  // The bias gradient is summed per sample over the steps while each step's rows are in cache
  // (a pass over the whole [T·N, 4H] dG after the loop cost a few per cent of a batch-32
  // step), then over the samples in order: the same sums whatever the threads' shares.
  const bool bias = options_.use_bias;
  if (bias) {
    detail::ensure_shape(dbias_rows_, {batch, gates});
    dbias_rows_.zero();
  }
  // Rows [n0, n1) of step s's dG into their samples' bias sums.
  auto add_bias = [&](int64_t s, int64_t n0, int64_t n1) {
    if (!bias) return;
    const float* dg = dgates_.data() + (s * batch + n0) * gates;
    float* sums = dbias_rows_.data() + n0 * gates;
#pragma omp simd
    for (int64_t i = 0; i < (n1 - n0) * gates; ++i) sums[i] += dg[i];
  };
  // As forward: each thread its own rows through every step (row_parts.h).
  const int parts = detail::row_parts(batch, batch * gates * units, kThreadedStepMacs);
  detail::for_each_row_part(batch, parts, [&](int64_t n0, int64_t n1) {
    if (cached_mask_ == nullptr) {
      for (int64_t s = steps - 1; s >= 0; --s) {
        gates_backward(s, n0, n1, parts == 1);
        add_bias(s, n0, n1);
        add_recurrent(s, n0, n1);
      }
      return;
    }
    const int64_t rows = n1 - n0;
    for (int64_t s = steps - 1; s >= 0; --s) {
      // A masked sample's h_s and c_s are h_{s−1} and c_{s−1}: its gates get nothing and its
      // dh and dc pass to step s − 1 as they are.
      const float* mask = cached_mask_ + s * batch + n0;
      float* dc = dc_.data() + n0 * units;
      float* dc_saved = dc_saved_.data() + n0 * units;
      copy_masked_rows(rows, units, mask, dc, dc_saved);
      gates_backward(s, n0, n1, parts == 1);
      copy_masked_rows(rows, units, mask, dc_saved, dc);
      float* dgate = dgates_.data() + (s * batch + n0) * gates;
      for (int64_t n = 0; n < rows; ++n) {
        if (mask[n] == 0.0f) std::fill_n(dgate + n * gates, gates, 0.0f);
      }
      add_bias(s, n0, n1);
      add_recurrent(s, n0, n1);
      const float* dh = dh_.data() + ((s + 1) * batch + n0) * units;
      float* dh_prev = dh_.data() + (s * batch + n0) * units;
      for (int64_t n = 0; n < rows; ++n) {
        if (mask[n] == 0.0f) axpy(units, 1.0f, dh + n * units, dh_prev + n * units);
      }
    }
  });
  initial_state_grad_.resize(2);
  for (Tensor& grad : initial_state_grad_) detail::ensure_shape(grad, {batch, units});
  std::copy_n(dh_.data(), batch * units, initial_state_grad_[0].data());
  std::copy_n(dc_.data(), batch * units, initial_state_grad_[1].data());

  // Weight gradients over all steps at once: the rows of dG [T·N, 4H] match those of the input
  // [T·N, F] and of h_{t−1} [T·N, H] (the first T·N rows of h_).
  const int64_t rows = steps * batch;
  if (rows < kTransposedGradientRows) {
    gemm(Trans::Yes, Trans::No, gates, features_, rows, 1.0f, dgates_.data(), gates, x_.data(),
         features_, 1.0f, weight_ih_.grad.data(), features_);
    gemm(Trans::Yes, Trans::No, gates, units, rows, 1.0f, dgates_.data(), gates, h_.data(), units,
         1.0f, weight_hh_.grad.data(), units);
  } else {
    // Computed transposed, Xᵀ·dG [F, 4H], and added transposed: oneDNN runs that form faster
    // (kernels/transpose.h).
    detail::ensure_shape(dweight_ih_t_, {features_, gates});
    detail::ensure_shape(dweight_hh_t_, {units, gates});
    gemm_split_columns(Trans::Yes, Trans::No, features_, gates, rows, 1.0f, x_.data(), features_,
                       dgates_.data(), gates, 0.0f, dweight_ih_t_.data(), gates);
    add_transposed(features_, gates, dweight_ih_t_.data(), weight_ih_.grad.data());
    gemm_split_columns(Trans::Yes, Trans::No, units, gates, rows, 1.0f, h_.data(), units,
                       dgates_.data(), gates, 0.0f, dweight_hh_t_.data(), gates);
    add_transposed(units, gates, dweight_hh_t_.data(), weight_hh_.grad.data());
  }
  if (bias) {
    // Both biases enter the pre-activation the same way: the same gradient goes to each.
    dbias_.zero();
    for (int64_t n = 0; n < batch; ++n)
      axpy(gates, 1.0f, dbias_rows_.data() + n * gates, dbias_.data());
    axpy(gates, 1.0f, dbias_.data(), bias_ih_.grad.data());
    axpy(gates, 1.0f, dbias_.data(), bias_hh_.grad.data());
  }
  if (!input_gradient_needed_) return Tensor();
  // dx = dG·W_ih, back to batch-major (and to input order with go_backwards).
  detail::ensure_shape(dx_, {steps, batch, features_});
  gemm(Trans::No, Trans::No, rows, features_, gates, 1.0f, dgates_.data(), gates,
       weight_ih_.value.data(), features_, 0.0f, dx_.data(), features_);
  Tensor dx = Tensor::uninitialized({batch, steps, features_});
  detail::from_time_major(batch, steps, features_, args_.go_backwards, dx_.data(), dx.data());
  return dx;
}

void LSTM::gates_backward(int64_t s, int64_t n0, int64_t n1, bool parallel) {
  const int64_t batch = batch_, units = args_.units, gates = 4 * units;
  const int64_t blocks = (units + kUnitBlock - 1) / kUnitBlock;
  const int64_t row = s * batch + n0;  // the first row's index in the [T, N, ...] buffers
  const float* z = keep_preactivations_ ? preact_.data() + row * gates : nullptr;
  const float* gate = gates_.data() + row * gates;
  float* dgate = dgates_.data() + row * gates;
  const float* dh = dh_.data() + (row + batch) * units;
  const float* c_prev = c_.data() + row * units;
  const float* c = c_.data() + (row + batch) * units;
  const float* c_act = c_act_.data() + row * units;
  float* dc = dc_.data() + n0 * units;
  float* dc_act = dc_act_.data() + n0 * units;
  const int64_t rows = n1 - n0;
  const Activation act = activation_, rec = recurrent_activation_;
  const float alpha = alpha_, rec_alpha = recurrent_alpha_;
  const bool fused = CellActivations{act, rec, alpha, rec_alpha}.fused();

  for_each_task(rows * blocks, parallel && rows * units >= kParallelThreshold, [&](int64_t task) {
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
    if (fused) {
      // The passes below in one: σ' = σ(1 − σ) and tanh' = 1 − tanh² from the kept outputs.
#pragma omp simd
      for (int64_t j = 0; j < len; ++j) {
        const float ij = i[j], fj = f[j], gj = g[j], oj = o[j];
        const float dhj = dh[at + j], ca = c_act[at + j];
        const float dc_total = dc[at + j] + dhj * oj * (1.0f - ca * ca);
        d_o[j] = dhj * ca * (oj * (1.0f - oj));
        di[j] = dc_total * gj * (ij * (1.0f - ij));
        df[j] = dc_total * c_prev[at + j] * (fj * (1.0f - fj));
        dg[j] = dc_total * ij * (1.0f - gj * gj);
        dc[at + j] = dc_total * fj;
      }
      return;
    }
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

Tensor LSTM::step(const Tensor& x_t) {
  check_step_input(x_t);
  const int64_t batch = x_t.dim(0), units = args_.units, gates = 4 * units;
  cached_ = false;  // as any inference forward: backward() needs a new forward(x, Train)
  const bool new_stream = stream_state_.empty();
  if (new_stream) stream_state_.assign(2, Tensor({batch, units}));
  // The step's weights and buffers are made when a stream starts and after params().
  if (new_stream || step_weights_stale_) pack_step_weights();
  float* z = step_gates_.data();
  float* h = stream_state_[0].data();
  float* c = stream_state_[1].data();
  const CellActivations activations{activation_, recurrent_activation_, alpha_, recurrent_alpha_};
  if (detail::use_gemv(batch)) {
    // One step reads every weight once, from L2 (256 KiB at LSTM(128)), and that read is the
    // step's cost: one packed product over [x_t, h] streams them at the cache's pace, where
    // the weights as stored take two products with horizontal sums (3.9 against 2.3 µs,
    // bench/README.md). Packing costs some ten steps, so it is kept across the stream.
    std::copy_n(x_t.data(), features_, step_input_.data());
    std::copy_n(h, units, step_input_.data() + features_);
    std::copy(step_bias_.begin(), step_bias_.end(), z);
    // Each panel of the packed weights holds the four gates of kStepBlockUnits units
    // (pack_step_weights), so their cell pass runs as soon as the panel's rows are summed,
    // while the next panel streams in: the core waits on L2 during the product, and the gates'
    // arithmetic fills that wait instead of following it. h is written in place (the product
    // reads its copy in step_input_).
    auto cell_of_panel = [&](int64_t row0, int64_t) {
      const int64_t u0 = row0 / 4, len = std::min(kStepBlockUnits, units - u0);
      cell_block(activations, len, kStepBlockUnits, z + row0, z + row0, c + u0, c + u0,
                 step_c_act_.data() + u0, h + u0);
    };
    const PanelDone panel_done = PanelDone::of(cell_of_panel);
    if (step_precision_ == StepPrecision::float16) {
      gemv_packed_half(step_weights_half_, step_input_.data(), z, /*accumulate=*/true, panel_done);
    } else {
      gemv_packed(step_weights_, step_input_.data(), z, /*accumulate=*/true, panel_done);
    }
  } else {
    // Z = b_ih + b_hh + [x_t, h]·[W_ih | W_hh]ᵀ, one GEMM over the joined weights kept
    // transposed across the stream (oneDNN's fastest form, as in forward_sequence), then the
    // gates in place; h and c are read before the cell pass overwrites them. Each thread
    // its own rows when the product is large enough to pay for a parallel region.
    const int64_t width = features_ + units;  // step_input_ is [batch, width] since the packing
    const int parts = detail::row_parts(batch, batch * gates * width, kThreadedStreamMacs);
    SingleThreadScope one_thread(batch * gates * width < kThreadedStreamMacs);
    detail::for_each_row_part(batch, parts, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        std::copy_n(x_t.data() + n * features_, features_, step_input_.data() + n * width);
        std::copy_n(h + n * units, units, step_input_.data() + n * width + features_);
        std::copy(step_bias_.begin(), step_bias_.end(), z + n * gates);
      }
      gemm(Trans::No, Trans::No, n1 - n0, gates, width, 1.0f, step_input_.data() + n0 * width,
           width, step_weights_t_.data(), gates, 1.0f, z + n0 * gates, gates);
      cell_forward(activations, n1 - n0, units, z + n0 * gates, z + n0 * gates, c + n0 * units,
                   c + n0 * units, step_c_act_.data() + n0 * units, h + n0 * units, parts == 1);
    });
  }
  Tensor y = Tensor::uninitialized({batch, units});
  std::copy_n(h, batch * units, y.data());
  return y;
}

void LSTM::pack_step_weights() {
  const int64_t units = args_.units, gates = 4 * units, width = features_ + units;
  const int64_t batch = stream_state_[0].dim(0);
  std::vector<float> bias(gates, 0.0f);
  if (options_.use_bias) add(gates, bias_ih_.value.data(), bias_hh_.value.data(), bias.data());
  // Row r of [W_ih | W_hh] (and of the bias) goes to row to_row(r) of the joined matrix.
  const auto join = [&](int64_t rows, auto to_row) {
    std::vector<float> joined(rows * width, 0.0f);
    step_bias_.assign(rows, 0.0f);
    for (int64_t r = 0; r < gates; ++r) {
      float* row = joined.data() + to_row(r) * width;
      std::copy_n(weight_ih_.value.data() + r * features_, features_, row);
      std::copy_n(weight_hh_.value.data() + r * units, units, row + features_);
      step_bias_[to_row(r)] = bias[r];
    }
    return joined;
  };
  if (detail::use_gemv(batch)) {
    // Panel b (kPackedPanelRows rows) holds gates i, f, g, o of units [b·kStepBlockUnits, ...)
    // one after another, zero rows past the last unit, for step()'s cell pass per panel.
    const std::vector<float> joined = join(step_gate_rows(units), [units](int64_t r) {
      const int64_t gate = r / units, unit = r % units;
      return unit / kStepBlockUnits * kPackedPanelRows + gate * kStepBlockUnits +
             unit % kStepBlockUnits;
    });
    pack_rows(joined.data(), step_gate_rows(units), width, width, step_weights_);
    if (step_precision_ == StepPrecision::float16) to_half(step_weights_, step_weights_half_);
  } else {
    const std::vector<float> joined = join(gates, [](int64_t r) { return r; });
    detail::ensure_shape(step_weights_t_, {width, gates});
    transpose(gates, width, joined.data(), step_weights_t_.data());
  }
  step_input_.resize(batch * width);
  // At batch 1 the gates are in the panel order above, padded to whole panels.
  detail::ensure_shape(step_gates_,
                       {batch, detail::use_gemv(batch) ? step_gate_rows(units) : gates});
  detail::ensure_shape(step_c_act_, {batch, units});
  step_weights_stale_ = false;
}

void LSTM::set_step_precision(StepPrecision precision) {
  step_precision_ = precision;
  step_weights_stale_ = true;
}

std::vector<Param*> LSTM::params() {
  step_weights_stale_ = true;
  if (options_.use_bias) return {&weight_ih_, &weight_hh_, &bias_ih_, &bias_hh_};
  return {&weight_ih_, &weight_hh_};
}

nlohmann::json LSTM::config() const {
  nlohmann::json config = {
      {"type", "LSTM"},
      {"activation", activation_name(activation_)},
      {"recurrent_activation", activation_name(recurrent_activation_)},
      {"use_bias", options_.use_bias},
      {"kernel_initializer", initializer_to_json(options_.kernel_initializer)},
      {"recurrent_initializer", initializer_to_json(options_.recurrent_initializer)},
      {"bias_initializer", initializer_to_json(options_.bias_initializer)},
      {"unit_forget_bias", options_.unit_forget_bias}};
  write_args(config);
  return config;
}

}  // namespace nnkit
