// LSTM: the long short-term memory layer, Keras's arguments and PyTorch's weights.
// For each step t, with x_t [N, F] and the previous state h, c [N, H] (the initial state at the
// start: zeros unless given, see Recurrent):
//   i = σ(W_ii·x_t + b_ii + W_hi·h + b_hi)      input gate
//   f = σ(W_if·x_t + b_if + W_hf·h + b_hf)      forget gate
//   g = tanh(W_ig·x_t + b_ig + W_hg·h + b_hg)   candidate cell
//   o = σ(W_io·x_t + b_io + W_ho·h + b_ho)      output gate
//   c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')
// σ is recurrent_activation, tanh is activation (both overridable, as in Keras).
// Parameters in PyTorch's names and layouts, gate blocks in the order i, f, g, o:
// "weight_ih" [4H, F], "weight_hh" [4H, H], "bias_ih" [4H], "bias_hh" [4H].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/kernels/activations.h"
#include "nnkit/kernels/gemv.h"
#include "nnkit/layers/recurrent.h"

namespace nnkit {

// Keras's arguments and defaults: LSTM({.units = 128, .return_sequences = true}).
struct LSTMOptions {
  int64_t units = 0;                             // required, > 0
  std::string activation = "tanh";               // g and the cell output; element-wise only
  std::string recurrent_activation = "sigmoid";  // the gates i, f, o
  bool use_bias = true;                          // false: no bias_ih, bias_hh
  Initializer kernel_initializer = {.name = "glorot_uniform"};  // weight_ih
  Initializer recurrent_initializer = {.name = "orthogonal"};   // weight_hh
  // Keras's single bias goes to bias_ih; bias_hh starts at zero, so the sum is Keras's bias.
  Initializer bias_initializer = {.name = "zeros"};
  // The forget block of bias_ih starts at 1 (Jozefowicz et al. 2015), as Keras does.
  bool unit_forget_bias = true;
  // RecurrentArgs, in its order (see recurrent.h for each one's meaning).
  bool return_sequences = false;  // output every step's h [N, T, H], not only the last [N, H]
  bool return_state = false;      // Keras's extra outputs; in C++ read final_state()
  // Process the steps in reverse order; with return_sequences the output stays in processed
  // (reversed) order, as Keras returns it.
  bool go_backwards = false;
  bool stateful = false;  // each forward() continues from where the last one ended
  float dropout = 0.0f;   // fraction of input features dropped in training, same for all steps
};

// The precision of the weights a batch-1 step() reads (LSTM::set_step_precision).
enum class StepPrecision {
  float32,  // the weights as trained: step() equals forward()
  // IEEE half precision (each weight rounded by up to 2⁻¹¹ of itself; x, h, c and the sums
  // stay float): half the bytes to read, which is what a batch-1 step waits for. The outputs
  // move by about 1e-4 (README.md gives the measured difference).
  float16,
};

// forward(), backward(), initial and final states ({h, c}, Keras's order), masks, stateful and
// step() are Recurrent's; this class supplies the cell. x: [N, T, F] with any T -> [N, H], or
// [N, T, H] with return_sequences.
class LSTM final : public Recurrent {
 public:
  // Throws ValueError on units <= 0, dropout outside [0, 1), or an unknown or non-element-wise
  // (softmax) activation.
  explicit LSTM(LSTMOptions options);
  // {"type": "LSTM", "units": 128, ...}; throws ValueError on unknown or ill-typed arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "LSTM"; }
  int state_count() const override { return 2; }  // h, c
  // "weight_ih" [4H, F], "weight_hh" [4H, H], then "bias_ih" [4H], "bias_hh" [4H] with use_bias.
  // Whoever may write the weights asks for them here (optimizers, loaders), so this also marks
  // step()'s packed copy of them stale.
  std::vector<Param*> params() override;
  nlohmann::json config() const override;

  // One step on the stream without the sequence machinery: no layout copies, no allocation
  // but the returned h, the state updated in place. Equal to forward() over the same steps
  // (up to float rounding: the GEMMs' shapes differ). It runs on a copy of the weights (at
  // batch 1 packed for a matrix-vector product, for a batch of streams [W_ih | W_hh]ᵀ for one
  // GEMM a step), made at the first step() of a stream (after reset_states()) and again after
  // params() was called: a write through a Param* kept from an earlier params() call is seen
  // by step() from the next reset_states() or params() call on.
  Tensor step(const Tensor& x_t) override;
  // Streaming inference with half-precision weights (see StepPrecision), for batch-1 step()
  // on a build with AVX-512 (gemv_is_vectorized()); batches of more than one and every other
  // method stay in float. A runtime choice, not part of config() or a saved model.
  void set_step_precision(StepPrecision precision);
  StepPrecision step_precision() const { return step_precision_; }

  const LSTMOptions& options() const { return options_; }

 private:
  // Draws weight_ih, weight_hh, then bias_ih from rng.
  void build_cell(int64_t features, Rng& rng) override;
  // Train keeps, time-major, the input, every step's gates (after activation; before too when
  // an activation's derivative reads its input), c, activation(c) and h, and the mask pointer.
  // Buffers are reused while (N, T) stays.
  Tensor forward_sequence(const Tensor& x, const std::vector<Tensor>& initial,
                          const float* step_mask, Mode mode) override;
  Tensor backward_sequence(const Tensor& dy, const std::vector<Tensor>& dfinal) override;

  // Sizes the time-major buffers for (batch, steps); keeps them when those are unchanged.
  void reserve(int64_t batch, int64_t steps);
  // The passes below work on rows [n0, n1) of the batch at step s (a thread's share, or all of
  // it); `parallel`: split the rows' element-wise work over OpenMP threads.
  // One step's element-wise pass: gates from the pre-activations at step s, then c and h.
  void gates_forward(int64_t s, int64_t n0, int64_t n1, bool parallel);
  // Masked samples of step s keep the previous h and c (a select after the gate pass). mask:
  // step s's [N] mask.
  void carry_masked_rows(int64_t s, const float* mask, int64_t n0, int64_t n1);
  // One step's element-wise pass backward: the pre-activation gate gradients dG at step s
  // from dh at step s and the carried dc (which it updates to dc at step s − 1).
  void gates_backward(int64_t s, int64_t n0, int64_t n1, bool parallel);
  // Fills step_weights_ (batch 1) or step_weights_t_, and step_bias_, from the weights, and
  // sizes step_input_, step_gates_ and step_c_act_ for the stream's batch.
  void pack_step_weights();

  LSTMOptions options_;
  Activation activation_, recurrent_activation_;
  float alpha_, recurrent_alpha_;  // the activations' default alphas (leaky_relu, elu)
  bool keep_preactivations_ = false;
  Param weight_ih_{"weight_ih", Tensor(), Tensor()};
  Param weight_hh_{"weight_hh", Tensor(), Tensor()};
  Param bias_ih_{"bias_ih", Tensor(), Tensor()};
  Param bias_hh_{"bias_hh", Tensor(), Tensor()};

  // Time-major buffers, in processed order (reversed input with go_backwards), for
  // (batch_, steps_run_) of the last forward_sequence.
  int64_t batch_ = 0, steps_run_ = 0;
  bool cached_ = false;                 // the buffers hold a Train forward
  const float* cached_mask_ = nullptr;  // [T, N] of the cached forward or null; the base owns it
  Tensor x_;                            // [T, N, F] input
  Tensor preact_;       // [T, N, 4H] pre-activations, when keep_preactivations_ (else in gates_)
  Tensor gates_;        // [T, N, 4H] i, f, g, o after their activations
  Tensor c_;            // [T + 1, N, H]; index 0 is the initial c_{-1}, index t + 1 is c_t
  Tensor c_act_;        // [T, N, H] activation(c_t)
  Tensor h_;            // [T + 1, N, H]; index 0 is the initial h_{-1}, index t + 1 is h_t
  Tensor bias_;         // [4H] bias_ih + bias_hh
  Tensor weight_hh_t_;  // [H, 4H] W_hhᵀ for a forward's per-step GEMMs, transposed per forward
  Tensor dweight_ih_t_, dweight_hh_t_;  // [F, 4H], [H, 4H]: the weight gradients, transposed
  // Backward.
  Tensor dgates_;  // [T, N, 4H] gradients of the pre-activations
  // [T + 1, N, H], index s + 1 is dL/dh_s: dy's part, then the recurrent part added at step
  // s + 1; index 0 is dL/dh_{-1}, the initial h's gradient.
  Tensor dh_;
  Tensor dc_;          // [N, H] dL/dc carried backward through time
  Tensor dc_act_;      // [N, H] scratch: dL/d activation(c)
  Tensor dc_saved_;    // [N, H] masked rows' dc across a step's gate pass
  Tensor dbias_;       // [4H] Σ of dgates_ rows, added into both biases' grads
  Tensor dbias_rows_;  // [N, 4H] per sample, Σ over the steps of its dgates_ rows
  Tensor dx_;          // [T, N, F]
  // step(): [N, 4H] pre-activations then gates (at batch 1 in step_weights_'s row order, padded
  // to whole panels), [N, H] activation(c).
  Tensor step_gates_, step_c_act_;
  // A batch-1 forward's copy of weight_hh packed for gemv_packed (kernels/gemv.h).
  PackedMatrix packed_weight_hh_;
  // Batch-1 step(): [W_ih | W_hh] packed as one matrix, so that a step is one product over
  // [x_t, h], its rows reordered so that each panel holds the four gates of a block of units
  // (pack_step_weights); b_ih + b_hh in the same order; and the product's input [x_t, h].
  // Packed when step_weights_stale_ (see step()).
  PackedMatrix step_weights_;
  HalfPackedMatrix step_weights_half_;  // step_weights_ rounded, with StepPrecision::float16
  // Batches of more than one stream: [W_ih | W_hh]ᵀ, [F + H, 4H], for one GEMM a step.
  Tensor step_weights_t_;
  std::vector<float> step_bias_, step_input_;  // step_input_: [N, F + H] rows [x_t, h]
  bool step_weights_stale_ = true;
  StepPrecision step_precision_ = StepPrecision::float32;
};

}  // namespace nnkit
