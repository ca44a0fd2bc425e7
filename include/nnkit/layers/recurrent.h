// Recurrent: what SimpleRNN, LSTM and GRU share beyond the Layer contract — the state that
// goes in and comes out of a sequence (initial state, final state, their gradients), stateful
// layers that carry it from batch to batch, masks for sequences of different lengths, dropout
// on the inputs, and the one-step streaming API. Each layer supplies only its cell: the weights
// and the fused passes over a whole sequence (forward_sequence, backward_sequence).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/layers/layer.h"
#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

namespace detail {
class SpecReader;
}

// The arguments every recurrent layer takes, Keras's names and defaults. Each layer's options
// struct has these fields too (LSTM({.units = 8, .stateful = true})) and hands them over.
struct RecurrentArgs {
  int64_t units = 0;
  bool return_sequences = false;  // every step's h [N, T, H] instead of the last [N, H]
  // Keras's extra outputs (the final states). A Sequential passes one tensor from layer to
  // layer, so it rejects this; in C++ final_state() gives the states whatever the setting.
  bool return_state = false;
  // Process the steps last first; with return_sequences the output stays in processed
  // (reversed) order, as Keras returns it.
  bool go_backwards = false;
  // Each forward() starts from the state the previous one ended in (sample i of a batch
  // continues sample i of the previous batch), until reset_states().
  bool stateful = false;
  // Fraction of the input features dropped in training: one mask per sample and feature,
  // the same for every step, as Keras's `dropout`; kept ones are scaled by 1 / (1 − dropout).
  float dropout = 0.0f;
};

namespace detail {
// The shared fields of a layer's options struct (LSTMOptions, GRUOptions, SimpleRNNOptions),
// which keeps them as its own members so that designated initializers can name them.
template <class Options>
RecurrentArgs shared_args(const Options& o) {
  return {.units = o.units,
          .return_sequences = o.return_sequences,
          .return_state = o.return_state,
          .go_backwards = o.go_backwards,
          .stateful = o.stateful,
          .dropout = o.dropout};
}
template <class Options>
void set_shared_args(const RecurrentArgs& args, Options& o) {
  o.units = args.units;
  o.return_sequences = args.return_sequences;
  o.return_state = args.return_state;
  o.go_backwards = args.go_backwards;
  o.stateful = args.stateful;
  o.dropout = args.dropout;
}
}  // namespace detail

class Recurrent : public Layer {
 public:
  int64_t units() const { return args_.units; }
  const RecurrentArgs& recurrent_args() const { return args_; }
  // 1 for SimpleRNN and GRU (h), 2 for LSTM (h, c), in Keras's order.
  virtual int state_count() const = 0;

  // input: [steps, features] -> [units], or [steps, units] with return_sequences. Creates the
  // weights (build_cell), then, with dropout, splits a mask generator off rng.
  Shape build(const Shape& input, Rng& rng) final;
  // The input-dropout mask generator (empty without dropout).
  std::vector<Rng*> rngs() override {
    return args_.dropout > 0.0f ? std::vector<Rng*>{&dropout_rng_} : std::vector<Rng*>{};
  }
  // x: [N, T, F], any T >= 1. Starts from the state given by set_initial_state(), else (when
  // stateful) the state the last forward ended in, else zeros. Applies and then clears the
  // mask given by set_mask(). Sets final_state().
  Tensor forward(const Tensor& x, Mode mode) final;
  // dy: the output's shape -> dx [N, T, F] (empty when the input gradient is not needed). Adds
  // into the weights' grads and sets initial_state_gradient().
  Tensor backward(const Tensor& dy) final;

  // The initial state of the next forward() only: state_count() tensors [batch, units].
  // Throws ShapeError on a wrong count; the shapes are checked against the batch in forward().
  void set_initial_state(std::vector<Tensor> state);
  // The state after the last forward()'s final processed step: h (and c), each [batch, units].
  // With a mask, the state at each sample's last unmasked step.
  const std::vector<Tensor>& final_state() const { return final_state_; }
  // A gradient with respect to final_state() to add in the next backward() only (the state
  // fed something else: Keras's return_state outputs).
  void set_final_state_gradient(std::vector<Tensor> dstate);
  // After backward(): the gradient with respect to each initial state tensor [batch, units].
  const std::vector<Tensor>& initial_state_gradient() const { return initial_state_grad_; }

  // mask [batch, steps] in input order: 1 where a step holds data, 0 where it is padding; for
  // the next forward() (and its backward()) only. A masked step leaves the state as it was
  // and gets no gradient; in a return_sequences output it repeats the previous step's output
  // (Keras), or is zero with set_zero_output_for_mask(true) (what Bidirectional asks for).
  // Throws ShapeError unless the mask is rank 2 of 0s and 1s; its batch and steps are checked
  // against x in forward().
  void set_mask(Tensor mask);
  void set_zero_output_for_mask(bool zero) { zero_output_for_mask_ = zero; }
  // Takes the mask of x for the next forward() (set_mask); passes it on with return_sequences
  // (reversed with go_backwards, as the output is), and drops it otherwise.
  Tensor propagate_mask(const Tensor& x, Tensor mask) override;

  bool stateful() const override { return args_.stateful; }
  // Clears the state a stateful layer carries between forward() calls and the state step()
  // carries between steps: both start again from zeros.
  void reset_states() override;

  // Streaming inference, one time step at a time: x_t [batch, features] -> h [batch, units],
  // continuing from where the last step() ended (zeros at first and after reset_states()).
  // Equal to forward() over the steps given so far. Runs in inference mode and discards what
  // a forward(x, Train) kept for backward(). Throws ValueError with go_backwards.
  virtual Tensor step(const Tensor& x_t);
  // The state step() carries (empty before the first step).
  const std::vector<Tensor>& stream_state() const { return stream_state_; }

 protected:
  // type_name: the Keras class name, for messages (type() is not callable from here).
  // Throws ValueError on units <= 0 or dropout outside [0, 1).
  Recurrent(std::string type_name, RecurrentArgs args);

  // Creates the weights for `features` inputs, drawing their initial values from rng.
  virtual void build_cell(int64_t features, Rng& rng) = 0;
  // The cell over a whole sequence, in the order go_backwards asks for.
  //   x: [N, T, F] in input order (dropout already applied).
  //   initial: state_count() tensors [N, H].
  //   step_mask: null, or [T, N] in processed order (step_mask[s·N + n] is 1 or 0): where 0,
  //     h (and c) of sample n pass through step s unchanged. It stays valid, unchanged, until
  //     the next forward_sequence, so a Train forward may keep the pointer for backward.
  // Returns [N, H] (the last processed step's h), or [N, T, H] in processed order with
  // return_sequences. Sets final_state_ (state_count() tensors [N, H]). In Mode::Train keeps
  // what backward_sequence needs, the mask included.
  virtual Tensor forward_sequence(const Tensor& x, const std::vector<Tensor>& initial,
                                  const float* step_mask, Mode mode) = 0;
  //   dy: the output's shape; dfinal: empty, or state_count() tensors [N, H] to add to the
  //   gradient of the final state.
  // Returns dx [N, T, F] in input order (empty when !input_gradient_needed()). Adds into the
  // weights' grads and sets initial_state_grad_ (state_count() tensors [N, H]). Masked steps
  // get zero gate gradients and pass the state gradient through unchanged.
  virtual Tensor backward_sequence(const Tensor& dy, const std::vector<Tensor>& dfinal) = 0;
  // Keras-style class name and units for messages: "LSTM(units=128)".
  std::string who() const;
  // What step() checks before it runs: built, x_t [batch, features] with the batch of the
  // stream carried so far, and not go_backwards (a stream cannot be read last step first).
  // For layers that override step() with a faster one.
  void check_step_input(const Tensor& x_t) const;

  // Reads units (required), return_sequences, return_state, go_backwards, stateful and
  // dropout from a spec; writes them into a config().
  static RecurrentArgs read_args(detail::SpecReader& args);
  void write_args(nlohmann::json& config) const;

  std::string type_name_;
  RecurrentArgs args_;
  int64_t steps_ = 0, features_ = 0;  // of the built input shape
  std::vector<Tensor> final_state_;
  std::vector<Tensor> initial_state_grad_;
  // The state step() carries (where the last step ended); an overriding step() updates it.
  std::vector<Tensor> stream_state_;

 private:
  std::vector<Tensor> resolve_initial_state(int64_t batch);

  std::vector<Tensor> initial_state_;     // for the next forward only
  std::vector<Tensor> carried_state_;     // stateful: where the last forward ended
  Tensor step_x_;                         // step(): x_t as [batch, 1, features]
  std::vector<Tensor> final_state_grad_;  // for the next backward only
  Tensor mask_;                           // [N, T] for the next forward only
  Tensor step_mask_;                      // [T, N] processed order, for the cached forward
  bool zero_output_for_mask_ = false;
  bool masked_ = false;  // the cached forward had a mask
  Rng dropout_rng_;
  Tensor dropout_mask_;  // [N, F] of the cached Train forward, if any
};

}  // namespace nnkit
