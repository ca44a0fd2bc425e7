// LSTM: the long short-term memory layer, Keras's arguments and PyTorch's weights.
// For each step t, with x_t [N, F] and the previous state h, c [N, H] (zeros at the start):
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
#include "nnkit/layers/layer.h"

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
  bool return_sequences = false;  // output every step's h [N, T, H], not only the last [N, H]
  // Process the steps in reverse order; with return_sequences the output stays in processed
  // (reversed) order, as Keras returns it.
  bool go_backwards = false;
};

class LSTM final : public Layer {
 public:
  // Throws ValueError on units <= 0, or an unknown or non-element-wise (softmax) activation.
  explicit LSTM(LSTMOptions options);
  // {"type": "LSTM", "units": 128, ...}; throws ValueError on unknown or ill-typed arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "LSTM"; }
  // input: [T, F] -> [H], or [T, H] with return_sequences. Draws weight_ih, weight_hh, then
  // bias_ih from rng. Throws ShapeError unless the input is [steps, features].
  Shape build(const Shape& input, Rng& rng) override;
  // x: [N, T, F] -> [N, H] (the last processed step's h) or [N, T, H]. Train keeps, time-major,
  // the input, every step's gates (after activation; before too when an activation's
  // derivative reads its input), c, activation(c) and h. Buffers are reused while (N, T) stays.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: the output's shape -> dx: [N, T, F] (empty when the input gradient is not needed).
  // Adds into the grads of weight_ih, weight_hh, bias_ih and bias_hh.
  Tensor backward(const Tensor& dy) override;
  // "weight_ih" [4H, F], "weight_hh" [4H, H], then "bias_ih" [4H], "bias_hh" [4H] with use_bias.
  std::vector<Param*> params() override;
  nlohmann::json config() const override;

  const LSTMOptions& options() const { return options_; }

 private:
  std::string who() const;
  // Sizes the time-major buffers for (batch, steps); keeps them when those are unchanged.
  void reserve(int64_t batch, int64_t steps);
  // One step's element-wise pass: gates from the pre-activations at step s, then c and h.
  void gates_forward(int64_t s);
  // One step's element-wise pass backward: the pre-activation gate gradients dG at step s
  // from dh at step s and the carried dc (which it updates to dc at step s − 1).
  void gates_backward(int64_t s);

  LSTMOptions options_;
  Activation activation_, recurrent_activation_;
  float alpha_, recurrent_alpha_;  // the activations' default alphas (leaky_relu, elu)
  bool keep_preactivations_ = false;
  int64_t steps_ = 0, features_ = 0;
  Param weight_ih_{"weight_ih", Tensor(), Tensor()};
  Param weight_hh_{"weight_hh", Tensor(), Tensor()};
  Param bias_ih_{"bias_ih", Tensor(), Tensor()};
  Param bias_hh_{"bias_hh", Tensor(), Tensor()};

  // Time-major buffers, in processed order (reversed input with go_backwards), for batch_.
  int64_t batch_ = 0;
  bool cached_ = false;  // the buffers hold a Train forward
  Tensor x_;             // [T, N, F] input
  Tensor preact_;        // [T, N, 4H] pre-activations, when keep_preactivations_ (else in gates_)
  Tensor gates_;         // [T, N, 4H] i, f, g, o after their activations
  Tensor c_;             // [T + 1, N, H]; index 0 is c_{-1} = 0, index t + 1 is c_t
  Tensor c_act_;         // [T, N, H] activation(c_t)
  Tensor h_;             // [T + 1, N, H]; index 0 is h_{-1} = 0, index t + 1 is h_t
  Tensor bias_;          // [4H] bias_ih + bias_hh
  // Backward.
  Tensor dgates_;  // [T, N, 4H] gradients of the pre-activations
  Tensor dh_;      // [T, N, H] dL/dh_t: dy's part, then the recurrent part added at step t + 1
  Tensor dc_;      // [N, H] dL/dc carried backward through time
  Tensor dc_act_;  // [N, H] scratch: dL/d activation(c)
  Tensor dbias_;   // [4H] Σ of dgates_ rows, added into both biases' grads
  Tensor dx_;      // [T, N, F]
};

}  // namespace nnkit
