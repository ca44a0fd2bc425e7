// SimpleRNN: the fully connected recurrent layer (Elman network),
//   h_t = f(W_ih·x_t + b_ih + W_hh·h_{t−1} + b_hh),  h_{−1} = 0,
// with Keras's arguments and PyTorch's nn.RNN parameters: "weight_ih" [units, features],
// "weight_hh" [units, units], "bias_ih" [units], "bias_hh" [units] (Keras folds the two biases
// into one; PyTorch and nnkit keep both). Fused: one GEMM projects every step's input, one GEMM
// per step applies weight_hh, backward forms each weight gradient with one GEMM.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/kernels/activations.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// Keras's arguments and defaults: SimpleRNN({.units = 32, .return_sequences = true}).
struct SimpleRNNOptions {
  int64_t units = 0;                // required, > 0
  std::string activation = "tanh";  // f: any element-wise activation (not softmax)
  bool use_bias = true;
  bool return_sequences = false;  // every step's h [N, T, units] instead of the last [N, units]
  // Process the sequence last step first; with return_sequences the outputs come in that
  // processed order (the first output belongs to the last input step), as Keras.
  bool go_backwards = false;
  Initializer kernel_initializer = {.name = "glorot_uniform"};  // weight_ih
  Initializer recurrent_initializer = {.name = "orthogonal"};   // weight_hh
  Initializer bias_initializer = {.name = "zeros"};             // bias_ih and bias_hh
};

class SimpleRNN final : public Layer {
 public:
  // Throws ValueError on units <= 0 or an unknown or non-element-wise activation.
  explicit SimpleRNN(SimpleRNNOptions options);
  // {"type": "SimpleRNN", "units": 32, ...}; throws ValueError on unknown or ill-typed arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "SimpleRNN"; }
  // input: [steps, features] -> [units], or [steps, units] with return_sequences. Draws
  // weight_ih, weight_hh, bias_ih, bias_hh from rng, in that order.
  Shape build(const Shape& input, Rng& rng) override;
  // x: [batch, steps, features] (any steps >= 1) -> [batch, units], or [batch, steps, units].
  // Train keeps the time-major input, the pre-activations and every step's h for backward().
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: the output's shape -> dx: [batch, steps, features]. Backpropagates through time and
  // adds into the grads of every parameter.
  Tensor backward(const Tensor& dy) override;
  // "weight_ih" [units, features], "weight_hh" [units, units], then with use_bias "bias_ih"
  // [units], "bias_hh" [units].
  std::vector<Param*> params() override;
  nlohmann::json config() const override;

  const SimpleRNNOptions& options() const { return options_; }

  // Plain loops, one sample and one step at a time, over the same parameters (float values,
  // double sums, the activations' scalar reference kernels), kept to test the fused path: the
  // output forward(x) gives, and the dx backward(dy) gives after forward(x, Train), adding
  // the same amounts into the parameters' grads.
  Tensor forward_reference(const Tensor& x) const;
  Tensor backward_reference(const Tensor& x, const Tensor& dy);

 private:
  std::string who() const;
  // Sizes the per-batch buffers for batch × steps; a no-op when they already fit.
  void reserve(int64_t batch, int64_t steps);

  SimpleRNNOptions options_;
  Activation activation_;
  float alpha_;  // the activation's default alpha (leaky_relu, elu)
  int64_t features_ = 0;
  Param weight_ih_{"weight_ih", Tensor(), Tensor()};
  Param weight_hh_{"weight_hh", Tensor(), Tensor()};
  Param bias_ih_{"bias_ih", Tensor(), Tensor()};
  Param bias_hh_{"bias_hh", Tensor(), Tensor()};
  Tensor bias_sum_;  // [units]: bias_ih + bias_hh, added once to every step's projection

  // Per-batch buffers, time-major, in processed order (reversed when go_backwards).
  int64_t batch_ = 0, steps_ = 0;
  bool cached_ = false;  // the buffers hold a forward(x, Train)
  Tensor x_;             // [steps, batch, features]: the input
  Tensor a_;             // [steps, batch, units]: pre-activations W_ih·x + W_hh·h + biases
  Tensor h_;             // [steps + 1, batch, units]: h_{−1} = 0, then every step's h
  Tensor da_;            // [steps, batch, units]: backward's pre-activation gradients
  Tensor dh_;            // [batch, units]: gradient with respect to the current step's h
  Tensor dx_;            // [steps, batch, features]: backward's input gradient, time-major
};

}  // namespace nnkit
