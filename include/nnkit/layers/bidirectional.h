// Bidirectional: a recurrent layer (LSTM, GRU, SimpleRNN) run over the sequence both ways and the
// two outputs merged, as Keras's Bidirectional wrapper and PyTorch's bidirectional=True.
// The forward layer is the wrapped layer; the backward layer is made from its config with
// go_backwards flipped (Keras's semantics), so both share every other argument.
//   return_sequences false: merge(forward's last h, backward's last h). The backward layer's last
//     step is input step 0: its h has seen the whole sequence (PyTorch's h_n[1], not
//     output[:, -1, H:]).
//   return_sequences true: the backward layer's outputs, in processed order, are reversed back to
//     input order first, so output step t merges forward h_t and backward h_t (PyTorch's
//     output[:, t]).
// merge_mode: "concat" [..., 2H], forward first (PyTorch's layout); "sum", "mul", "ave" [..., H].
// Parameters: the inner layers' under "forward." and "backward." (PyTorch's *_l0 and
// *_l0_reverse): "forward.weight_ih", ..., "backward.bias_hh".
#pragma once

#include <concepts>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nnkit/layers/layer.h"

namespace nnkit {

// Keras's arguments: Bidirectional(LSTM({.units = 64}), {.merge_mode = "sum"}).
struct BidirectionalOptions {
  std::string merge_mode = "concat";  // concat, sum, mul or ave (Keras's None is not supported)
};

class Bidirectional final : public Layer {
 public:
  // Throws ValueError when layer is not recurrent (its config has no boolean go_backwards and
  // return_sequences) or on an unknown merge_mode.
  explicit Bidirectional(std::unique_ptr<Layer> layer, BidirectionalOptions options = {});
  template <std::derived_from<Layer> L>
  explicit Bidirectional(L layer, BidirectionalOptions options = {})
      : Bidirectional(std::make_unique<L>(std::move(layer)), std::move(options)) {}
  // {"type": "Bidirectional", "merge_mode": "concat", "layer": {"type": "LSTM", "units": 8}};
  // throws ValueError on unknown or ill-typed arguments, naming the inner layer's own errors.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Bidirectional"; }
  // input: [T, F] -> [M] or, with return_sequences, [T, M]; M = 2H for concat, else H. Builds
  // the forward layer, then the backward one, each drawing its weights from rng in that order.
  // Throws ShapeError unless the input is [steps, features].
  Shape build(const Shape& input, Rng& rng) override;
  // x: [N, T, F] -> [N, M] or [N, T, M]. Each inner layer keeps its own cache in Train; mul also
  // keeps both inner outputs (input order), which its gradient reads. With two threads (see
  // set_num_threads) the two directions run at once, one thread each, with the same results as one
  // after the other; an inner layer's exception reaches the caller.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: the output's shape -> dx: [N, T, F], the sum of both inner layers' dx (both in input
  // order), or empty when the input gradient is not needed (passed on to both inner layers).
  // Adds into both inner layers' parameter grads; the directions run at once as in forward().
  Tensor backward(const Tensor& dy) override;
  // The forward layer's params, then the backward layer's, renamed "forward.<name>" and
  // "backward.<name>" at build().
  std::vector<Param*> params() override;
  std::vector<Rng*> rngs() override;
  // {"type": "Bidirectional", "merge_mode": ..., "layer": the forward layer's full config}.
  nlohmann::json config() const override;
  // Hands the mask to both directions; with return_sequences their outputs are zero at masked
  // steps (as Keras's Bidirectional asks), and the mask passes on in input order.
  Tensor propagate_mask(const Tensor& x, Tensor mask) override;
  // Stateful when its inner layers are; reset_states() clears both directions.
  bool stateful() const override { return forward_->stateful(); }
  void reset_states() override {
    forward_->reset_states();
    backward_->reset_states();
  }

  Layer& forward_layer() { return *forward_; }
  Layer& backward_layer() { return *backward_; }

 private:
  enum class MergeMode { Concat, Sum, Mul, Ave };

  std::string who() const;

  std::unique_ptr<Layer> forward_, backward_;
  BidirectionalOptions options_;
  MergeMode merge_mode_;
  bool return_sequences_;
  int64_t features_ = 0, units_ = 0;

  bool cached_ = false;  // a forward(x, Train) ran since the last build or Infer forward
  Shape output_;         // the last forward's output shape, for backward's check
  Tensor y_forward_;     // mul only: the forward layer's output [N, (T,) H]
  Tensor y_backward_;    // mul only: the backward layer's, in input order
};

}  // namespace nnkit
