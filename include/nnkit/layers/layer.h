// The layer contract. A layer is built once for an input shape, then runs forward and
// backward on batches. Shapes given to build() leave out the batch dimension, as Keras's
// input_shape does; tensors given to forward() and backward() have it first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

// Train: batch statistics, dropout, and keep what backward() needs. Infer: neither.
enum class Mode { Train, Infer };

// A named tensor of a layer, saved in model files as layers.{i}.{name} with PyTorch's
// names and layouts. Trainable parameters have a gradient of the same shape; state such
// as BatchNormalization's running statistics is saved but not trained (grad empty).
struct Param {
  std::string name;
  Tensor value;
  Tensor grad;
  bool trainable = true;
};

class Layer {
 public:
  virtual ~Layer() = default;

  // The Keras class name: "Dense", "BatchNormalization", ...
  virtual std::string type() const = 0;
  // Creates the parameters for `input` (no batch dimension), drawing initial values and any
  // training-time randomness (dropout masks) from `rng`. Returns the output shape.
  // Throws ShapeError when the input shape does not fit the layer.
  virtual Shape build(const Shape& input, Rng& rng) = 0;
  // x: [batch, ...input] -> [batch, ...output]. In Mode::Train keeps what backward needs.
  virtual Tensor forward(const Tensor& x, Mode mode) = 0;
  // dy: gradient of the loss with respect to the last forward()'s output. Adds into the
  // parameters' grads (never overwrites) and returns dx. Valid after forward(x, Train).
  virtual Tensor backward(const Tensor& dy) = 0;
  // Every named tensor, trainable or not, in a fixed order.
  virtual std::vector<Param*> params() { return {}; }
  // The generators the layer draws from while training (dropout masks), in a fixed order, so
  // that a checkpoint can save them and a resumed run draw the same masks.
  virtual std::vector<Rng*> rngs() { return {}; }
  // Keras-style arguments, including "type"; make_layer(config()) rebuilds the layer.
  virtual nlohmann::json config() const = 0;

  // "softmax" or "sigmoid" when the layer's output is that function of a pre-activation z
  // and the layer can backpropagate a gradient given with respect to z; "" otherwise.
  // The model uses it to fuse softmax + cross-entropy into the stable gradient p - y.
  virtual std::string output_activation() const { return ""; }
  // Like backward(), with dz the gradient with respect to the pre-activation.
  virtual Tensor backward_preactivation(const Tensor& dz);

  // Keras's mask propagation, for sequences of different lengths in one batch. The model calls
  // it before forward(x) with the mask of x — [batch, steps], 1 for a step that holds data, 0
  // for padding; empty when there is none — and hands the result on to the next layer. Layers
  // that consume a mask (recurrent ones) keep it for their forward(); Masking makes one. The
  // default passes it on while the output keeps the input's steps and drops it otherwise.
  virtual Tensor propagate_mask(const Tensor& x, Tensor mask);

  // Data-dependent initialisation, Keras's adapt() of preprocessing layers (the RBF layer's
  // k-means centres). Sequential::fit calls adapt() once before the first epoch of a fresh run
  // (never on resume) for each layer whose wants_adapt() is true, with the training inputs as
  // they reach the layer ([samples, ...input], the earlier layers run in inference mode) and the
  // model's generator. The layer must be built.
  virtual bool wants_adapt() const { return false; }
  virtual void adapt(const Tensor& /*inputs*/, Rng& /*rng*/) {}

  // Keras's stateful recurrent layers: true when a forward() starts where the previous one
  // ended (sample i of a batch continues sample i of the last), so every batch must have the
  // same size. reset_states() clears what such a layer carries (and what step() carries).
  virtual bool stateful() const { return false; }
  virtual void reset_states() {}

  // Sequential clears this on its first layer, whose input gradient nobody reads; a layer
  // may then skip computing dx and return an empty tensor from backward().
  void set_input_gradient_needed(bool needed) { input_gradient_needed_ = needed; }
  bool input_gradient_needed() const { return input_gradient_needed_; }

  void zero_grad();
  int64_t param_count(bool trainable_only = false);
  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }

 protected:
  // Set by build() implementations, for summary() and shape checks.
  Shape input_shape_;
  Shape output_shape_;
  bool input_gradient_needed_ = true;
};

// Checks that x is [batch, ...expected] and throws ShapeError naming `who` otherwise.
void check_input_shape(const std::string& who, const Shape& expected, const Tensor& x);

}  // namespace nnkit
