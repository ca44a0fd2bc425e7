// SimpleRNN: the fully connected recurrent layer (Elman network),
//   h_t = f(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh),  h_{−1} = the initial state (zeros),
// with Keras's arguments and PyTorch's nn.RNN parameters: "weight_ih" [units, features],
// "weight_hh" [units, units], "bias_ih" [units], "bias_hh" [units] (Keras folds the two biases
// into one; PyTorch and nnkit keep both). Fused: one GEMM projects every step's input, one GEMM
// per step applies weight_hh, backward forms each weight gradient with one GEMM. Initial and
// final state, masks, stateful, dropout and step() come from Recurrent.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/kernels/activations.h"
#include "nnkit/layers/recurrent.h"

namespace nnkit {

// Keras's arguments and defaults: SimpleRNN({.units = 32, .return_sequences = true}).
struct SimpleRNNOptions {
  int64_t units = 0;                // required, > 0
  std::string activation = "tanh";  // f: any element-wise activation (not softmax)
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

class SimpleRNN final : public Recurrent {
 public:
  // Throws ValueError on units <= 0, dropout outside [0, 1) or an unknown or non-element-wise
  // activation.
  explicit SimpleRNN(SimpleRNNOptions options);
  // {"type": "SimpleRNN", "units": 32, ...}; throws ValueError on unknown or ill-typed arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "SimpleRNN"; }
  int state_count() const override { return 1; }
  // "weight_ih" [units, features], "weight_hh" [units, units], then with use_bias "bias_ih"
  // [units], "bias_hh" [units].
  std::vector<Param*> params() override;
  nlohmann::json config() const override;

  const SimpleRNNOptions& options() const { return options_; }

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
  // Train keeps the time-major input, the pre-activations, every step's h and the mask for
  // backward_sequence().
  Tensor forward_sequence(const Tensor& x, const std::vector<Tensor>& initial,
                          const float* step_mask, Mode mode) override;
  Tensor backward_sequence(const Tensor& dy, const std::vector<Tensor>& dfinal) override;

 private:
  // Sizes the per-batch buffers for batch × steps; a no-op when they already fit.
  void reserve(int64_t batch, int64_t steps);

  SimpleRNNOptions options_;
  Activation activation_;
  float alpha_;  // the activation's default alpha (leaky_relu, elu)
  Param weight_ih_{"weight_ih", Tensor(), Tensor()};
  Param weight_hh_{"weight_hh", Tensor(), Tensor()};
  Param bias_ih_{"bias_ih", Tensor(), Tensor()};
  Param bias_hh_{"bias_hh", Tensor(), Tensor()};
  Tensor bias_sum_;  // [units]: bias_ih + bias_hh, added once to every step's projection

  // Per-batch buffers, time-major, in processed order (reversed when go_backwards).
  int64_t batch_ = 0, time_ = 0;  // the shape they are sized for
  bool cached_ = false;           // the buffers hold a forward(x, Train)
  // The cached forward started from zeros: step 0's W_hh terms vanish and are skipped.
  bool zero_start_ = true;
  const float* step_mask_ = nullptr;  // [time, batch] of the cached forward, or null
  Tensor x_;                          // [time, batch, features]: the input
  Tensor a_;        // [time, batch, units]: pre-activations W_ih·x + W_hh·h + biases
  Tensor h_;        // [time + 1, batch, units]: h_{−1} (the initial state), then every h
  Tensor da_;       // [time, batch, units]: backward's pre-activation gradients
  Tensor dh_;       // [batch, units]: gradient with respect to the current step's h
  Tensor dh_prev_;  // [batch, units]: with respect to the previous step's h
  Tensor dx_;       // [time, batch, features]: backward's input gradient, time-major
};

}  // namespace nnkit
