// GRU: the gated recurrent unit in PyTorch's form (Keras's reset_after=True), gates r, z, n:
//   r = σ(W_ir·x + b_ir + W_hr·h + b_hr)
//   z = σ(W_iz·x + b_iz + W_hz·h + b_hz)
//   n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn))
//   h' = (1 − z) ⊙ n + z ⊙ h,  h_{−1} = the initial state (zeros),
// σ being recurrent_activation and tanh activation. Parameters in PyTorch's nn.GRU layout, the
// gates stacked in the order r, z, n: "weight_ih" [3·units, features], "weight_hh" [3·units,
// units], "bias_ih" [3·units], "bias_hh" [3·units]. Fused: one GEMM projects every step's input,
// one GEMM per step applies weight_hh, backward forms each weight gradient with one GEMM.
// Initial and final state, masks, stateful, dropout and step() come from Recurrent.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/kernels/activations.h"
#include "nnkit/kernels/gemv.h"
#include "nnkit/layers/recurrent.h"

namespace nnkit {

// Keras's arguments and defaults: GRU({.units = 64, .return_sequences = true}).
struct GRUOptions {
  int64_t units = 0;                             // required, > 0
  std::string activation = "tanh";               // of the candidate n (element-wise)
  std::string recurrent_activation = "sigmoid";  // of the gates r and z (element-wise)
  bool use_bias = true;
  bool return_sequences = false;  // every step's h [N, T, units] instead of the last [N, units]
  bool return_state = false;      // Keras's extra output; see RecurrentArgs
  // Process the sequence last step first; with return_sequences the outputs come in that
  // processed order (the first output belongs to the last input step), as Keras.
  bool go_backwards = false;
  bool stateful = false;  // each forward() continues from the last one's final state
  float dropout = 0.0f;   // fraction of input features dropped in training, in [0, 1)
  Initializer kernel_initializer = {.name = "glorot_uniform"};  // weight_ih
  Initializer recurrent_initializer = {.name = "orthogonal"};   // weight_hh
  Initializer bias_initializer = {.name = "zeros"};             // bias_ih and bias_hh
};

class GRU final : public Recurrent {
 public:
  // Throws ValueError on units <= 0, dropout outside [0, 1) or an unknown or non-element-wise
  // activation.
  explicit GRU(GRUOptions options);
  // {"type": "GRU", "units": 64, ...}; throws ValueError on unknown or ill-typed arguments.
  // Accepts Keras's "reset_after": true (the form computed here) and rejects false.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "GRU"; }
  int state_count() const override { return 1; }
  // "weight_ih" [3·units, features], "weight_hh" [3·units, units], then with use_bias
  // "bias_ih" [3·units], "bias_hh" [3·units]. Whoever may write the weights asks for them here
  // (optimizers, loaders), so this also marks step()'s packed copy of them stale.
  std::vector<Param*> params() override;
  nlohmann::json config() const override;

  // Recurrent::step, without the sequence machinery: on copies of the weights (at batch 1
  // packed for matrix-vector products, for a batch of streams transposed for two GEMMs a
  // step) made at the first step() of a stream (after reset_states()) and again after
  // params() was called: a write through a Param* kept from an earlier params() call is seen
  // by step() from the next reset_states() or params() call on.
  Tensor step(const Tensor& x_t) override;

  const GRUOptions& options() const { return options_; }

  // What the reference loops take besides x, each optional (empty): the initial h [N, units]
  // (else zeros), a mask [N, T] in input order (as set_mask), and a gradient to add to the
  // final h [N, units] (backward only).
  struct ReferenceState {
    Tensor initial, mask, dfinal;
  };
  // Plain loops, one sample and one step at a time, over the same parameters (float values,
  // double sums, the activations' scalar reference kernels), kept to test the fused path: the
  // output forward(x) gives, and the dx backward(dy) gives after forward(x, Train), adding
  // the same amounts into the parameters' grads; with dinitial, also dh_{−1} [N, units].
  // Dropout is not applied.
  Tensor forward_reference(const Tensor& x, const ReferenceState& state = {}) const;
  Tensor backward_reference(const Tensor& x, const Tensor& dy, const ReferenceState& state = {},
                            Tensor* dinitial = nullptr);

 protected:
  // Draws weight_ih, weight_hh, bias_ih, bias_hh from rng, in that order.
  void build_cell(int64_t features, Rng& rng) override;
  // Train keeps the time-major input, the recurrent projections W_hh·h + b_hh, the gates,
  // every step's h and the mask for backward_sequence().
  Tensor forward_sequence(const Tensor& x, const std::vector<Tensor>& initial,
                          const float* step_mask, Mode mode) override;
  Tensor backward_sequence(const Tensor& dy, const std::vector<Tensor>& dfinal) override;

 private:
  // Sizes the per-batch buffers for batch × steps; a no-op when they already fit.
  void reserve(int64_t batch, int64_t steps);
  struct ReferenceStep;  // what the reference keeps of one sample's step
  // One sample's step of the reference implementation: x [features], h [units] -> h_next.
  void reference_step(const float* x, const float* h, ReferenceStep& step, float* h_next) const;

  GRUOptions options_;
  Activation activation_, recurrent_activation_;
  float alpha_, recurrent_alpha_;  // the activations' default alphas (leaky_relu, elu)
  // Whether an activation's derivative reads its input, so the pre-activations must be kept.
  bool keep_preactivations_;
  Param weight_ih_{"weight_ih", Tensor(), Tensor()};
  Param weight_hh_{"weight_hh", Tensor(), Tensor()};
  Param bias_ih_{"bias_ih", Tensor(), Tensor()};
  Param bias_hh_{"bias_hh", Tensor(), Tensor()};

  // Per-batch buffers, time-major, in processed order (reversed when go_backwards). The gate
  // buffers are planar per step, [3, batch, units] (r, z, n), so that one activation call
  // covers r and z of a whole step and another covers n; the projections and the gate
  // gradients are interleaved, [batch, 3·units], as the GEMMs read and write them.
  int64_t batch_ = 0, time_ = 0;  // the shape they are sized for ("steps" below)
  bool cached_ = false;           // the buffers hold a forward(x, Train)
  // The cached forward started from zeros: step 0's W_hh terms vanish and are skipped.
  bool zero_start_ = true;
  const float* step_mask_ = nullptr;  // [steps, batch] of the cached forward, or null
  Tensor x_;                          // [steps, batch, features]: the input
  Tensor gin_;                        // [steps, batch, 3·units]: W_ih·x + b_ih
  Tensor grec_;                       // [steps, batch, 3·units]: W_hh·h_prev + b_hh
  Tensor gates_;                      // [steps, 3, batch, units]: r, z, n
  Tensor pre_;                        // [steps, 3, batch, units]: their pre-activations, if kept
  Tensor h_;             // [steps + 1, batch, units]: h_{−1} (the initial state), then each h
  Tensor dgin_;          // [steps, batch, 3·units]: gradients of the input-side pre-activations
  Tensor dgrec_;         // [steps, batch, 3·units]: of the recurrent side (n block times r)
  Tensor dgates_;        // [3, batch, units]: one step's gate gradients
  Tensor dh_, dh_prev_;  // [batch, units]: gradients with respect to h_s and h_{s−1}
  Tensor dx_;            // [steps, batch, features]: backward's input gradient, time-major
  Tensor dbias_rows_;    // [2, batch, 3·units]: per sample, the input and recurrent bias sums
  Tensor weight_hh_t_;   // [units, 3·units]: W_hhᵀ for a forward's per-step GEMMs
  Tensor dweight_ih_t_, dweight_hh_t_;  // the weight gradients, transposed
  PackedMatrix packed_weight_hh_;       // W_hh packed for a long batch-1 forward, per forward
  // step(), kept across a stream while step_weights_stale_ is false: at batch 1 W_ih and W_hh
  // packed for gemv_packed (kernels/gemv.h), for a batch of streams W_ihᵀ [F, 3H] and W_hhᵀ
  // [H, 3H]; and the step's projections, gates (planar, [3, batch, units]) and new h.
  PackedMatrix step_weight_ih_, step_weight_hh_;
  Tensor step_weight_ih_t_, step_weight_hh_t_;
  std::vector<float> step_gin_, step_grec_, step_pre_, step_gates_, step_h_;
  bool step_weights_stale_ = true;
};

}  // namespace nnkit
