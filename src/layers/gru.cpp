#include "nnkit/layers/gru.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "batch_one.h"
#include "fmt/format.h"
#include "kernels/fast_math.h"
#include "kernels/vector_math.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/elementwise.h"
#include "nnkit/kernels/gemm.h"
#include "nnkit/kernels/gemv.h"
#include "nnkit/kernels/transpose.h"
#include "row_parts.h"
#include "sequence_layout.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

// Below this many elements of a step a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;
// From this many multiply-adds in a step's recurrent product (batch · 3H · H) the time loop runs
// once per thread on the thread's own rows of the batch (row_parts.h); below it on the caller.
// As LSTM's: at 128 units from batch 11.
constexpr int64_t kThreadedStepMacs = 1 << 19;
// A step() of a batch of streams splits its rows over the threads from this many multiply-adds
// in its products (batch · 3H · (F + H)): at GRU(128) with 6 features 2 threads were slower
// at batch 16 (17.4 against 15.0 µs), even at 32, and faster at 64 (50 against 56 µs).
constexpr int64_t kThreadedStreamMacs = 1 << 21;
// From this many rows (steps · batch) the weight gradients are computed transposed and added
// transposed (kernels/transpose.h); below it the transposing add costs more than the faster GEMM
// saves (batch 1, 64 steps, GRU(128): 0.37 ms a training step against 0.35).
constexpr int64_t kTransposedGradientRows = 256;

// body(b) for every row b of a step, over OpenMP threads only when `parallel`. The test is made
// here rather than in an if clause: a region whose if clause is false still costs about 0.3 µs
// (measured), several times per step, as much as a batch-1 step's GEMM.
template <typename Body>
void for_each_row(int64_t rows, bool parallel, const Body& body) {
  if (!parallel) {
    for (int64_t b = 0; b < rows; ++b) body(b);
    return;
  }
#pragma omp parallel for
  for (int64_t b = 0; b < rows; ++b) body(b);
}

struct GateActivations {
  Activation candidate;  // n: `activation`
  float candidate_alpha;
  Activation gate;  // r, z: `recurrent_activation`
  float gate_alpha;

  // Keras's and PyTorch's defaults, which the step passes fuse into one loop over each row
  // (the general path makes five passes, each reading and writing the step's planes).
  bool fused() const { return gate == Activation::sigmoid && candidate == Activation::tanh; }
};

// One step forward over `batch` rows. gin, grec: [batch, 3·units], r, z, n interleaved per row:
// the input projection W_ih·x + b_ih and the recurrent one W_hh·h + b_hh. Writes the
// pre-activations to pre and the gates to gates, both planar [3, ·, units] with planes `plane`
// floats apart (pre may be gates: then the activations run in place), and h' [batch, units].
// parallel: split the rows over OpenMP threads when they are many enough to pay.
void step_forward(const GateActivations& f, int64_t batch, int64_t units, int64_t plane,
                  const float* gin, const float* grec, const float* h, float* pre, float* gates,
                  float* h_next, bool parallel) {
  const int64_t width = 3 * units;
  parallel = parallel && batch * width > kParallelThreshold;
  if (f.fused()) {
    // r = σ(gi_r + gr_r), z = σ(gi_z + gr_z), n = tanh(gi_n + r ⊙ gr_n), h' = n + z ⊙ (h − n),
    // unit by unit; no pre-activations are kept (σ' and tanh' read the outputs).
    for_each_row(batch, parallel, [&](int64_t b) {
      const float* gi = gin + b * width;
      const float* gr = grec + b * width;
      const int64_t p = b * units;
      float* r = gates + p;
      float* z = gates + plane + p;
      float* n = gates + 2 * plane + p;
      const float* hb = h + p;
      float* hn = h_next + p;
#ifdef __AVX512F__
      // vector_math.h's table-driven exp, as the LSTM's gate pass (lstm.cpp cell_block).
      for (int64_t j = 0; j < units; j += 16) {
        const __mmask16 m = detail::lanes16(units - j);
        const auto load = [m](const float* at) { return _mm512_maskz_loadu_ps(m, at); };
        const __m512 rj = detail::sigmoid16(_mm512_add_ps(load(gi + j), load(gr + j)));
        const __m512 zj =
            detail::sigmoid16(_mm512_add_ps(load(gi + units + j), load(gr + units + j)));
        const __m512 nj =
            detail::tanh16(_mm512_fmadd_ps(rj, load(gr + 2 * units + j), load(gi + 2 * units + j)));
        _mm512_mask_storeu_ps(r + j, m, rj);
        _mm512_mask_storeu_ps(z + j, m, zj);
        _mm512_mask_storeu_ps(n + j, m, nj);
        _mm512_mask_storeu_ps(hn + j, m, _mm512_fmadd_ps(zj, _mm512_sub_ps(load(hb + j), nj), nj));
      }
#else
#pragma omp simd
      for (int64_t j = 0; j < units; ++j) {
        const float rj = detail::fast_sigmoid(gi[j] + gr[j]);
        const float zj = detail::fast_sigmoid(gi[units + j] + gr[units + j]);
        const float nj = detail::fast_tanh(gi[2 * units + j] + rj * gr[2 * units + j]);
        r[j] = rj;
        z[j] = zj;
        n[j] = nj;
        hn[j] = nj + zj * (hb[j] - nj);
      }
#endif
    });
    return;
  }
  float* pre_r = pre;
  float* pre_z = pre + plane;
  float* pre_n = pre + 2 * plane;
  const float* r = gates;
  const float* z = gates + plane;
  const float* n = gates + 2 * plane;
  // r and z: σ of the sums of the two projections, one activation call for both planes.
  for_each_row(batch, parallel, [&](int64_t b) {
    const float* gi = gin + b * width;
    const float* gr = grec + b * width;
    float* pr = pre_r + b * units;
    float* pz = pre_z + b * units;
#pragma omp simd
    for (int64_t j = 0; j < units; ++j) {
      pr[j] = gi[j] + gr[j];
      pz[j] = gi[units + j] + gr[units + j];
    }
  });
  if (plane == batch * units) {
    activation_forward(f.gate, f.gate_alpha, 1, 2 * plane, pre_r, gates);  // r and z at once
  } else {
    activation_forward(f.gate, f.gate_alpha, 1, batch * units, pre_r, gates);
    activation_forward(f.gate, f.gate_alpha, 1, batch * units, pre_z, gates + plane);
  }
  // n: the reset gate scales the recurrent projection only, bias included (reset_after).
  for_each_row(batch, parallel, [&](int64_t b) {
    const float* gi = gin + b * width + 2 * units;
    const float* gr = grec + b * width + 2 * units;
    const float* rb = r + b * units;
    float* pn = pre_n + b * units;
#pragma omp simd
    for (int64_t j = 0; j < units; ++j) pn[j] = gi[j] + rb[j] * gr[j];
  });
  activation_forward(f.candidate, f.candidate_alpha, 1, batch * units, pre_n, gates + 2 * plane);
  // h' = (1 − z) ⊙ n + z ⊙ h, written n + z ⊙ (h − n).
  for_each_row(batch, parallel, [&](int64_t b) {
    const int64_t p = b * units;
#pragma omp simd
    for (int64_t j = p; j < p + units; ++j) h_next[j] = n[j] + z[j] * (h[j] - n[j]);
  });
}

// One step backward, the reverse of step_forward(). dh [batch, units]: the gradient with
// respect to h'. pre: the planar pre-activations, or nullptr when no activation's derivative
// reads them. dgates: planar scratch. pre, gates and dgates have planes `plane` floats apart.
// Writes the pre-activation gradients of the input side to dgin and of the recurrent side to
// dgrec (interleaved [batch, 3·units]; they differ in the n block by the factor r), and dh ⊙ z,
// the direct path to h, to dh_prev.
void step_backward(const GateActivations& f, int64_t batch, int64_t units, int64_t plane,
                   const float* grec, const float* h, const float* pre, const float* gates,
                   const float* dh, float* dgates, float* dgin, float* dgrec, float* dh_prev,
                   bool parallel) {
  const int64_t width = 3 * units;
  parallel = parallel && batch * width > kParallelThreshold;
  const float* r = gates;
  const float* z = gates + plane;
  const float* n = gates + 2 * plane;
  if (f.fused()) {
    // The passes below in one: σ' = σ(1 − σ) and tanh' = 1 − tanh² from the kept outputs.
    for_each_row(batch, parallel, [&](int64_t b) {
      const int64_t p = b * units;
      const float* grn = grec + b * width + 2 * units;
      float* gi = dgin + b * width;
      float* gr = dgrec + b * width;
#pragma omp simd
      for (int64_t j = 0; j < units; ++j) {
        const float dhj = dh[p + j], rj = r[p + j], zj = z[p + j], nj = n[p + j];
        const float dn = dhj * (1.0f - zj) * (1.0f - nj * nj);
        const float dz = dhj * (h[p + j] - nj) * (zj * (1.0f - zj));
        const float dr = dn * grn[j] * (rj * (1.0f - rj));
        dh_prev[p + j] = dhj * zj;
        gi[j] = gr[j] = dr;
        gi[units + j] = gr[units + j] = dz;
        gi[2 * units + j] = dn;
        gr[2 * units + j] = dn * rj;
      }
    });
    return;
  }
  float* dr = dgates;
  float* dz = dgates + plane;
  float* dn = dgates + 2 * plane;
  // h' = n + z ⊙ (h − n): dn = dh ⊙ (1 − z), dz = dh ⊙ (h − n), dh_prev = dh ⊙ z.
  for_each_row(batch, parallel, [&](int64_t b) {
    const int64_t p = b * units;
#pragma omp simd
    for (int64_t j = p; j < p + units; ++j) {
      dn[j] = dh[j] * (1.0f - z[j]);
      dz[j] = dh[j] * (h[j] - n[j]);
      dh_prev[j] = dh[j] * z[j];
    }
  });
  const int64_t count = batch * units;  // one plane's elements of these rows
  activation_backward(f.candidate, f.candidate_alpha, 1, count,
                      pre != nullptr ? pre + 2 * plane : nullptr, n, dn, dn);
  // dr = da_n ⊙ (W_hn·h + b_hn).
  for_each_row(batch, parallel, [&](int64_t b) {
    const float* gr = grec + b * width + 2 * units;
    const float* dnb = dn + b * units;
    float* drb = dr + b * units;
#pragma omp simd
    for (int64_t j = 0; j < units; ++j) drb[j] = dnb[j] * gr[j];
  });
  if (plane == count) {
    activation_backward(f.gate, f.gate_alpha, 1, 2 * plane, pre, gates, dr, dr);  // r and z
  } else {
    activation_backward(f.gate, f.gate_alpha, 1, count, pre, r, dr, dr);
    activation_backward(f.gate, f.gate_alpha, 1, count, pre != nullptr ? pre + plane : nullptr, z,
                        dz, dz);
  }
  for_each_row(batch, parallel, [&](int64_t b) {
    const int64_t p = b * units;
    float* gi = dgin + b * width;
    float* gr = dgrec + b * width;
#pragma omp simd
    for (int64_t j = 0; j < units; ++j) {
      gi[j] = gr[j] = dr[p + j];
      gi[units + j] = gr[units + j] = dz[p + j];
      gi[2 * units + j] = dn[p + j];
      gr[2 * units + j] = dn[p + j] * r[p + j];
    }
  });
}

}  // namespace

GRU::GRU(GRUOptions options)
    : Recurrent("GRU", detail::shared_args(options)), options_(std::move(options)) {
  activation_ = detail::parse_elementwise_activation(who(), "activation", options_.activation);
  recurrent_activation_ = detail::parse_elementwise_activation(who(), "recurrent_activation",
                                                               options_.recurrent_activation);
  alpha_ = activation_default_alpha(activation_);
  recurrent_alpha_ = activation_default_alpha(recurrent_activation_);
  keep_preactivations_ = activation_backward_reads_input(activation_) ||
                         activation_backward_reads_input(recurrent_activation_);
}

std::unique_ptr<Layer> GRU::from_config(const nlohmann::json& config) {
  detail::SpecReader args("GRU", config);
  GRUOptions o;
  detail::set_shared_args(read_args(args), o);
  // Keras writes "activation": null for linear.
  o.activation = args.get_string("activation", args.has("activation") ? "linear" : o.activation);
  o.recurrent_activation = args.get_string(
      "recurrent_activation", args.has("recurrent_activation") ? "linear" : o.recurrent_activation);
  o.use_bias = args.get_bool("use_bias", o.use_bias);
  o.kernel_initializer = args.get_initializer("kernel_initializer", o.kernel_initializer);
  o.recurrent_initializer = args.get_initializer("recurrent_initializer", o.recurrent_initializer);
  o.bias_initializer = args.get_initializer("bias_initializer", o.bias_initializer);
  const bool reset_after = args.get_bool("reset_after", true);
  args.finish();
  if (!reset_after) {
    throw ValueError(
        "GRU: reset_after=false (the reset gate applied before the recurrent weights, Keras 1's "
        "form) is not supported; nnkit computes reset_after=true, Keras 2's default and "
        "PyTorch's form");
  }
  return std::make_unique<GRU>(std::move(o));
}

void GRU::build_cell(int64_t features, Rng& rng) {
  const int64_t units = args_.units;
  weight_ih_.value = Tensor({3 * units, features});
  initialize(weight_ih_.value, options_.kernel_initializer, rng);
  weight_ih_.grad = Tensor({3 * units, features});
  weight_hh_.value = Tensor({3 * units, units});
  initialize(weight_hh_.value, options_.recurrent_initializer, rng);
  weight_hh_.grad = Tensor({3 * units, units});
  if (options_.use_bias) {
    for (Param* b : {&bias_ih_, &bias_hh_}) {
      b->value = Tensor({3 * units});
      initialize(b->value, options_.bias_initializer, rng);
      b->grad = Tensor({3 * units});
    }
  }
  batch_ = time_ = 0;
  cached_ = false;
  step_weights_stale_ = true;
}

void GRU::reserve(int64_t batch, int64_t steps) {
  if (batch == batch_ && steps == time_) return;
  const int64_t units = args_.units;
  detail::ensure_shape(x_, {steps, batch, features_});
  detail::ensure_shape(gin_, {steps, batch, 3 * units});
  detail::ensure_shape(grec_, {steps, batch, 3 * units});
  detail::ensure_shape(gates_, {steps, 3, batch, units});
  if (keep_preactivations_) detail::ensure_shape(pre_, {steps, 3, batch, units});
  detail::ensure_shape(h_, {steps + 1, batch, units});
  detail::ensure_shape(dgin_, {steps, batch, 3 * units});
  detail::ensure_shape(dgrec_, {steps, batch, 3 * units});
  detail::ensure_shape(dgates_, {3, batch, units});
  detail::ensure_shape(dh_, {batch, units});
  detail::ensure_shape(dh_prev_, {batch, units});
  detail::ensure_shape(dx_, {steps, batch, features_});
  batch_ = batch;
  time_ = steps;
}

Tensor GRU::forward_sequence(const Tensor& x, const std::vector<Tensor>& initial,
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
  const int64_t plane = batch * units, width = 3 * units;
  const GateActivations f{activation_, alpha_, recurrent_activation_, recurrent_alpha_};
  detail::to_time_major(batch, steps, features_, args_.go_backwards, x.data(), x_.data());

  // Every step's input projection at once: gin = X·W_ihᵀ + b_ih, [steps·batch, 3·units].
  gemm_split_columns(Trans::No, Trans::Yes, steps * batch, width, features_, 1.0f, x_.data(),
                     features_, weight_ih_.value.data(), features_, 0.0f, gin_.data(), width);
  if (options_.use_bias) add_row_vector(steps * batch, width, bias_ih_.value.data(), gin_.data());
  const float* h0 = initial[0].data();
  std::copy_n(h0, plane, h_.data());  // h_{−1}
  zero_start_ = std::all_of(h0, h0 + plane, [](float v) { return v == 0.0f; });
  // Each thread its own rows [n0, n1) through every step (row_parts.h); on one share the
  // element-wise passes may still split over threads.
  const int parts = detail::row_parts(batch, batch * width * units, kThreadedStepMacs);
  // Shares of more than one row multiply by W_hhᵀ stored [H, 3H], transposed here once: oneDNN
  // runs h·W_hhᵀ faster that way than with the transpose left to it (kernels/transpose.h).
  if (!(gemv_is_vectorized() && batch <= parts)) {
    detail::ensure_shape(weight_hh_t_, {units, width});
    transpose(width, units, weight_hh_.value.data(), weight_hh_t_.data());
  }
  // A packed copy made anew for each long enough batch-1 forward (batch_one.h).
  const bool packed = detail::use_gemv(batch) && steps >= detail::kPackFromSteps;
  if (packed) pack_rows(weight_hh_.value.data(), width, units, units, packed_weight_hh_);
  detail::for_each_row_part(batch, parts, [&](int64_t n0, int64_t n1) {
    const int64_t rows = n1 - n0;
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t row = s * batch + n0;  // the first row's index in the [T, N, ...] buffers
      const float* h = h_.data() + row * units;
      float* h_next = h_.data() + (row + batch) * units;
      float* grec = grec_.data() + row * width;
      // grec = h·W_hhᵀ + b_hh, kept apart from gin: backward needs W_hn·h + b_hn alone. The
      // bias goes into the rows first and the one GEMM adds the product (a zero h_{−1} adds
      // nothing).
      const bool recurrent = s > 0 || !zero_start_;
      if (options_.use_bias) {
        for (int64_t b = 0; b < rows; ++b) {
          std::copy_n(bias_hh_.value.data(), width, grec + b * width);
        }
      } else if (!recurrent) {
        std::fill_n(grec, rows * width, 0.0f);
      }
      if (recurrent && packed) {
        gemv_packed(packed_weight_hh_, h, grec, options_.use_bias);
      } else if (recurrent && detail::use_gemv(rows)) {
        gemv(width, units, weight_hh_.value.data(), units, h, grec, options_.use_bias);
      } else if (recurrent) {
        gemm(Trans::No, Trans::No, rows, width, units, 1.0f, h, units, weight_hh_t_.data(), width,
             options_.use_bias ? 1.0f : 0.0f, grec, width);
      }
      // The planar [3, N, H] buffers: this share's rows start n0 rows into each plane.
      const int64_t planar = s * 3 * plane + n0 * units;
      float* gates = gates_.data() + planar;
      step_forward(f, rows, units, plane, gin_.data() + row * width, grec, h,
                   keep_preactivations_ ? pre_.data() + planar : gates, gates, h_next, parts == 1);
      if (step_mask != nullptr) {
        detail::carry_masked_rows(rows, units, step_mask + s * batch + n0, h, h_next);
      }
    }
  });

  if (args_.return_sequences) {
    detail::from_time_major(batch, steps, units, false, h_.data() + plane, y.data());
  } else {
    std::copy_n(h_.data() + steps * plane, plane, y.data());
  }
  std::copy_n(h_.data() + steps * plane, plane, final_state_[0].data());
  step_mask_ = step_mask;
  cached_ = mode == Mode::Train;
  return y;
}

Tensor GRU::backward_sequence(const Tensor& dy, const std::vector<Tensor>& dfinal) {
  detail::check_forward_cache(who(), cached_);
  const int64_t batch = batch_, steps = time_, units = args_.units;
  detail::check_gradient_shape(
      who(), args_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units}, dy);
  const int64_t plane = batch * units, width = 3 * units;
  const GateActivations f{activation_, alpha_, recurrent_activation_, recurrent_alpha_};

  // Through time, last step first. dh: the gradient with respect to h_s, from the output, from
  // step s + 1 and, at the last step, from the final state; dh_{s−1} = dh ⊙ z + dgrec_s·W_hh.
  if (args_.return_sequences) {
    std::fill_n(dh_.data(), plane, 0.0f);
  } else {
    std::copy_n(dy.data(), plane, dh_.data());
  }
  if (!dfinal.empty()) axpy(plane, 1.0f, dfinal[0].data(), dh_.data());
  // The bias gradients are summed per sample over the steps while each step's rows are in
  // cache (a pass over the whole [T·N, 3H] buffers after the loop cost 4% of a batch-32
  // step), then over the samples in order: the same sums whatever the threads' shares.
  const bool bias = options_.use_bias;
  if (bias) {
    detail::ensure_shape(dbias_rows_, {2, batch, width});
    dbias_rows_.zero();
  }
  // As forward: each thread its own rows [n0, n1) through every step (row_parts.h).
  const int parts = detail::row_parts(batch, batch * width * units, kThreadedStepMacs);
  detail::for_each_row_part(batch, parts, [&](int64_t n0, int64_t n1) {
    const int64_t rows = n1 - n0;
    float* dbias_in = bias ? dbias_rows_.data() + n0 * width : nullptr;
    float* dbias_rec = bias ? dbias_rows_.data() + (batch + n0) * width : nullptr;
    // dh_ and dh_prev_ trade places every step; each share swaps its own pointers.
    float* dh = dh_.data() + n0 * units;
    float* dh_prev = dh_prev_.data() + n0 * units;
    for (int64_t s = steps - 1; s >= 0; --s) {
      if (args_.return_sequences) {
        detail::add_step(rows, steps, units, s, dy.data() + n0 * steps * units, dh);
      }
      const int64_t row = s * batch + n0;  // the first row's index in the [T, N, ...] buffers
      const int64_t planar = s * 3 * plane + n0 * units;
      float* dgin = dgin_.data() + row * width;
      float* dgrec = dgrec_.data() + row * width;
      step_backward(f, rows, units, plane, grec_.data() + row * width, h_.data() + row * units,
                    keep_preactivations_ ? pre_.data() + planar : nullptr, gates_.data() + planar,
                    dh, dgates_.data() + n0 * units, dgin, dgrec, dh_prev, parts == 1);
      if (step_mask_ != nullptr) {
        // A padded row's h passed through: no gate gradients, dh goes to h_{s−1} whole.
        const float* mask = step_mask_ + s * batch + n0;
        detail::zero_masked_rows(rows, width, mask, dgin);
        detail::zero_masked_rows(rows, width, mask, dgrec);
        detail::carry_masked_rows(rows, units, mask, dh, dh_prev);
      }
      if (bias) {  // a plain loop: axpy's parallel form would nest in this region
#pragma omp simd
        for (int64_t i = 0; i < rows * width; ++i) {
          dbias_in[i] += dgin[i];
          dbias_rec[i] += dgrec[i];
        }
      }
      // Also at s = 0: dh_{−1} is the initial state's gradient.
      if (detail::use_gemv(rows)) {
        gemv_transposed(width, units, weight_hh_.value.data(), units, dgrec, dh_prev, true);
      } else {
        gemm(Trans::No, Trans::No, rows, units, width, 1.0f, dgrec, width, weight_hh_.value.data(),
             units, 1.0f, dh_prev, units);
      }
      std::swap(dh, dh_prev);
    }
  });
  // After an odd number of steps the gradient ended in dh_prev_'s storage.
  if (steps % 2 == 1) std::swap(dh_, dh_prev_);
  initial_state_grad_.resize(1);
  detail::ensure_shape(initial_state_grad_[0], {batch, units});
  std::copy_n(dh_.data(), plane, initial_state_grad_[0].data());

  // Weight gradients over all steps at once: dW_ih += dginᵀ·X, dW_hh += dgrecᵀ·H_prev (step 0
  // left out when h_{−1} was zero), biases += the gradients' row sums. From
  // kTransposedGradientRows rows each is computed transposed, Xᵀ·dgin, and added transposed:
  // oneDNN runs that form faster (kernels/transpose.h).
  const int64_t first = zero_start_ ? 1 : 0;
  if (steps * batch < kTransposedGradientRows) {
    gemm(Trans::Yes, Trans::No, width, features_, steps * batch, 1.0f, dgin_.data(), width,
         x_.data(), features_, 1.0f, weight_ih_.grad.data(), features_);
    if (steps > first) {
      gemm(Trans::Yes, Trans::No, width, units, (steps - first) * batch, 1.0f,
           dgrec_.data() + first * batch * width, width, h_.data() + first * plane, units, 1.0f,
           weight_hh_.grad.data(), units);
    }
  } else {
    detail::ensure_shape(dweight_ih_t_, {features_, width});
    gemm_split_columns(Trans::Yes, Trans::No, features_, width, steps * batch, 1.0f, x_.data(),
                       features_, dgin_.data(), width, 0.0f, dweight_ih_t_.data(), width);
    add_transposed(features_, width, dweight_ih_t_.data(), weight_ih_.grad.data());
    if (steps > first) {
      detail::ensure_shape(dweight_hh_t_, {units, width});
      gemm_split_columns(Trans::Yes, Trans::No, units, width, (steps - first) * batch, 1.0f,
                         h_.data() + first * plane, units, dgrec_.data() + first * batch * width,
                         width, 0.0f, dweight_hh_t_.data(), width);
      add_transposed(units, width, dweight_hh_t_.data(), weight_hh_.grad.data());
    }
  }
  if (bias) {
    for (int64_t n = 0; n < batch; ++n) {
      axpy(width, 1.0f, dbias_rows_.data() + n * width, bias_ih_.grad.data());
      axpy(width, 1.0f, dbias_rows_.data() + (batch + n) * width, bias_hh_.grad.data());
    }
  }
  if (!input_gradient_needed_) return Tensor();
  // dX = dgin·W_ih, then back to batch-major and the input's time order.
  gemm(Trans::No, Trans::No, steps * batch, features_, width, 1.0f, dgin_.data(), width,
       weight_ih_.value.data(), features_, 0.0f, dx_.data(), features_);
  Tensor dx = Tensor::uninitialized({batch, steps, features_});
  detail::from_time_major(batch, steps, features_, args_.go_backwards, dx_.data(), dx.data());
  return dx;
}

namespace {

// The reference's scalar activations: y = f(x) and dx = dy·f'(x).
float apply(Activation f, float alpha, float x) {
  float y;
  activation_forward_reference(f, alpha, 1, 1, &x, &y);
  return y;
}

float derive(Activation f, float alpha, float x, float dy) {
  float dx;
  activation_backward_reference(f, alpha, 1, 1, &x, &dy, &dx);
  return dx;
}

}  // namespace

struct GRU::ReferenceStep {
  std::vector<float> gin, grec;            // [3·units]: the two projections, biases included
  std::vector<float> pr, pz, pn, r, z, n;  // [units]: pre-activations and gates

  explicit ReferenceStep(int64_t units)
      : gin(3 * units),
        grec(3 * units),
        pr(units),
        pz(units),
        pn(units),
        r(units),
        z(units),
        n(units) {}
};

// One sample's step of the reference: the projections of x and h, then gate by gate, unit by
// unit, h' into h_next.
void GRU::reference_step(const float* x, const float* h, ReferenceStep& step, float* h_next) const {
  const int64_t units = args_.units, width = 3 * units, features = features_;
  const float* w_ih = weight_ih_.value.data();
  const float* w_hh = weight_hh_.value.data();
  for (int64_t i = 0; i < width; ++i) {
    double in = options_.use_bias ? bias_ih_.value[i] : 0.0f;
    double rec = options_.use_bias ? bias_hh_.value[i] : 0.0f;
    for (int64_t k = 0; k < features; ++k) in += double{w_ih[i * features + k]} * x[k];
    for (int64_t j = 0; j < units; ++j) rec += double{w_hh[i * units + j]} * h[j];
    step.gin[i] = static_cast<float>(in);
    step.grec[i] = static_cast<float>(rec);
  }
  for (int64_t j = 0; j < units; ++j) {
    step.pr[j] = step.gin[j] + step.grec[j];
    step.r[j] = apply(recurrent_activation_, recurrent_alpha_, step.pr[j]);
    step.pz[j] = step.gin[units + j] + step.grec[units + j];
    step.z[j] = apply(recurrent_activation_, recurrent_alpha_, step.pz[j]);
    step.pn[j] = step.gin[2 * units + j] + step.r[j] * step.grec[2 * units + j];
    step.n[j] = apply(activation_, alpha_, step.pn[j]);
    h_next[j] = (1.0f - step.z[j]) * step.n[j] + step.z[j] * h[j];
  }
}

Tensor GRU::forward_reference(const Tensor& x, const ReferenceState& state) const {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  const int64_t batch = x.dim(0), steps = x.dim(1), units = args_.units;
  detail::check_reference_state(who(), x, units, state.initial, state.mask, Tensor());
  Tensor y(args_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units});
  ReferenceStep step(units);
  std::vector<float> h(units), h_next(units);
  for (int64_t n = 0; n < batch; ++n) {
    std::fill(h.begin(), h.end(), 0.0f);
    if (!state.initial.empty()) std::copy_n(state.initial.data() + n * units, units, h.begin());
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = args_.go_backwards ? steps - 1 - s : s;
      // A padded step leaves h as it was.
      if (detail::reference_holds_data(state.mask, n, steps, t)) {
        reference_step(x.data() + (n * steps + t) * features_, h.data(), step, h_next.data());
        std::swap(h, h_next);
      }
      if (args_.return_sequences) {
        std::copy(h.begin(), h.end(), y.data() + (n * steps + s) * units);
      }
    }
    if (!args_.return_sequences) std::copy(h.begin(), h.end(), y.data() + n * units);
  }
  return y;
}

Tensor GRU::backward_reference(const Tensor& x, const Tensor& dy, const ReferenceState& state,
                               Tensor* dinitial) {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  const int64_t batch = x.dim(0), steps = x.dim(1), units = args_.units;
  const int64_t features = features_, width = 3 * units;
  detail::check_gradient_shape(
      who(), args_.return_sequences ? Shape{batch, steps, units} : Shape{batch, units}, dy);
  detail::check_reference_state(who(), x, units, state.initial, state.mask, state.dfinal);
  const float* w_ih = weight_ih_.value.data();
  const float* w_hh = weight_hh_.value.data();
  Tensor dx({batch, steps, features});
  if (dinitial != nullptr) *dinitial = Tensor({batch, units});
  // One sample's steps, and h[s] the h before step s (h[0]: the initial state).
  std::vector<ReferenceStep> kept(steps, ReferenceStep(units));
  std::vector<std::vector<float>> h(steps + 1, std::vector<float>(units));
  std::vector<float> dh(units), dh_prev(units), dgin(width), dgrec(width);
  for (int64_t n = 0; n < batch; ++n) {
    auto time = [&](int64_t s) { return args_.go_backwards ? steps - 1 - s : s; };
    auto input = [&](int64_t s) { return x.data() + (n * steps + time(s)) * features; };
    auto data = [&](int64_t s) {
      return detail::reference_holds_data(state.mask, n, steps, time(s));
    };
    std::fill(h[0].begin(), h[0].end(), 0.0f);
    if (!state.initial.empty()) std::copy_n(state.initial.data() + n * units, units, h[0].begin());
    for (int64_t s = 0; s < steps; ++s) {
      if (data(s)) {
        reference_step(input(s), h[s].data(), kept[s], h[s + 1].data());
      } else {
        h[s + 1] = h[s];
      }
    }

    std::fill(dh.begin(), dh.end(), 0.0f);
    if (!state.dfinal.empty()) std::copy_n(state.dfinal.data() + n * units, units, dh.begin());
    for (int64_t s = steps - 1; s >= 0; --s) {
      for (int64_t j = 0; j < units; ++j) {
        if (args_.return_sequences) {
          dh[j] += dy[(n * steps + s) * units + j];
        } else if (s == steps - 1) {
          dh[j] += dy[n * units + j];
        }
      }
      if (!data(s)) continue;  // h_s = h_{s−1}: dh passes through
      const ReferenceStep& k = kept[s];
      for (int64_t j = 0; j < units; ++j) {
        // h' = (1 − z)·n + z·h.
        const float dn = derive(activation_, alpha_, k.pn[j], dh[j] * (1.0f - k.z[j]));
        const float dz =
            derive(recurrent_activation_, recurrent_alpha_, k.pz[j], dh[j] * (h[s][j] - k.n[j]));
        // n's pre-activation = gin_n + r·grec_n.
        const float dr =
            derive(recurrent_activation_, recurrent_alpha_, k.pr[j], dn * k.grec[2 * units + j]);
        dgin[j] = dgrec[j] = dr;
        dgin[units + j] = dgrec[units + j] = dz;
        dgin[2 * units + j] = dn;
        dgrec[2 * units + j] = dn * k.r[j];
        dh_prev[j] = dh[j] * k.z[j];
      }
      for (int64_t i = 0; i < width; ++i) {
        for (int64_t f = 0; f < features; ++f) {
          weight_ih_.grad[i * features + f] += dgin[i] * input(s)[f];
          dx[(n * steps + time(s)) * features + f] += dgin[i] * w_ih[i * features + f];
        }
        for (int64_t j = 0; j < units; ++j) weight_hh_.grad[i * units + j] += dgrec[i] * h[s][j];
        if (options_.use_bias) {
          bias_ih_.grad[i] += dgin[i];
          bias_hh_.grad[i] += dgrec[i];
        }
      }
      for (int64_t j = 0; j < units; ++j) {
        double sum = dh_prev[j];
        for (int64_t i = 0; i < width; ++i) sum += double{dgrec[i]} * w_hh[i * units + j];
        dh[j] = static_cast<float>(sum);
      }
    }
    if (dinitial != nullptr) std::copy(dh.begin(), dh.end(), dinitial->data() + n * units);
  }
  return dx;
}

Tensor GRU::step(const Tensor& x_t) {
  check_step_input(x_t);
  const int64_t batch = x_t.dim(0), units = args_.units, width = 3 * units;
  cached_ = false;  // as any inference forward: backward() needs a new forward(x, Train)
  const bool new_stream = stream_state_.empty();
  if (new_stream) stream_state_.assign(1, Tensor({batch, units}));
  // The weights' copies are made once per stream (and again after params()), never per step:
  // at batch 1 the step reads every weight once from L2 and that read is its cost, so it runs
  // packed products with no layout copies (1.8 µs a GRU(128) step, against 5 through
  // forward_sequence, bench/README.md); a batch of streams runs two GEMMs on the weights kept
  // transposed (oneDNN's fastest form, as in forward_sequence).
  const bool packed = detail::use_gemv(batch);
  if (new_stream || step_weights_stale_) {
    if (packed) {
      pack_rows(weight_ih_.value.data(), width, features_, features_, step_weight_ih_);
      pack_rows(weight_hh_.value.data(), width, units, units, step_weight_hh_);
    } else {
      detail::ensure_shape(step_weight_ih_t_, {features_, width});
      detail::ensure_shape(step_weight_hh_t_, {units, width});
      transpose(width, features_, weight_ih_.value.data(), step_weight_ih_t_.data());
      transpose(width, units, weight_hh_.value.data(), step_weight_hh_t_.data());
    }
    for (auto* buffer : {&step_gin_, &step_grec_, &step_pre_, &step_gates_})
      buffer->resize(batch * width);
    step_h_.resize(batch * units);
    step_weights_stale_ = false;
  }
  float* h = stream_state_[0].data();
  // gin = W_ih·x + b_ih and grec = W_hh·h + b_hh, apart: the reset gate scales grec's n block.
  const bool bias = options_.use_bias;
  const GateActivations f{activation_, alpha_, recurrent_activation_, recurrent_alpha_};
  if (packed) {
    if (bias) {
      std::copy_n(bias_ih_.value.data(), width, step_gin_.data());
      std::copy_n(bias_hh_.value.data(), width, step_grec_.data());
    }
    gemv_packed(step_weight_ih_, x_t.data(), step_gin_.data(), /*accumulate=*/bias);
    gemv_packed(step_weight_hh_, h, step_grec_.data(), /*accumulate=*/bias);
    step_forward(f, 1, units, units, step_gin_.data(), step_grec_.data(), h, step_pre_.data(),
                 step_gates_.data(), step_h_.data(), /*parallel=*/false);
  } else {
    // Each thread its own rows when the products are large enough to pay for a parallel
    // region; the gate planes stay [3, batch, units] whatever the rows' share.
    const int64_t plane = batch * units;
    const int parts =
        detail::row_parts(batch, batch * width * (features_ + units), kThreadedStreamMacs);
    detail::for_each_row_part(batch, parts, [&](int64_t n0, int64_t n1) {
      const int64_t rows = n1 - n0;
      float* gin = step_gin_.data() + n0 * width;
      float* grec = step_grec_.data() + n0 * width;
      if (bias) {  // the products add to the biases (beta 1) or overwrite (beta 0)
        for (int64_t n = 0; n < rows; ++n) {
          std::copy_n(bias_ih_.value.data(), width, gin + n * width);
          std::copy_n(bias_hh_.value.data(), width, grec + n * width);
        }
      }
      const float beta = bias ? 1.0f : 0.0f;
      gemm(Trans::No, Trans::No, rows, width, features_, 1.0f, x_t.data() + n0 * features_,
           features_, step_weight_ih_t_.data(), width, beta, gin, width);
      gemm(Trans::No, Trans::No, rows, width, units, 1.0f, h + n0 * units, units,
           step_weight_hh_t_.data(), width, beta, grec, width);
      step_forward(f, rows, units, plane, gin, grec, h + n0 * units, step_pre_.data() + n0 * units,
                   step_gates_.data() + n0 * units, step_h_.data() + n0 * units, parts == 1);
    });
  }
  std::copy_n(step_h_.data(), batch * units, h);
  Tensor y = Tensor::uninitialized({batch, units});
  std::copy_n(h, batch * units, y.data());
  return y;
}

std::vector<Param*> GRU::params() {
  step_weights_stale_ = true;
  if (options_.use_bias) return {&weight_ih_, &weight_hh_, &bias_ih_, &bias_hh_};
  return {&weight_ih_, &weight_hh_};
}

nlohmann::json GRU::config() const {
  nlohmann::json config = {
      {"type", "GRU"},
      {"activation", activation_name(activation_)},
      {"recurrent_activation", activation_name(recurrent_activation_)},
      {"use_bias", options_.use_bias},
      {"kernel_initializer", initializer_to_json(options_.kernel_initializer)},
      {"recurrent_initializer", initializer_to_json(options_.recurrent_initializer)},
      {"bias_initializer", initializer_to_json(options_.bias_initializer)}};
  write_args(config);
  return config;
}

}  // namespace nnkit
