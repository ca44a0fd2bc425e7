// Sequential: a stack of layers with Keras's workflow — add, compile, fit, evaluate,
// predict, summary — and PyTorch's weight layouts. Data flows one way: the model checks
// the user's arrays, slices batches and runs the layers; the layers run the kernels.
//
//   Sequential model({.input_shape = {2}, .seed = 1});
//   model.add(Dense({.units = 8, .activation = "tanh"}));
//   model.add(Dense({.units = 1, .activation = "sigmoid"}));
//   model.compile(make_adam({.learning_rate = 0.01f}), make_loss("binary_crossentropy"));
//   History h = model.fit(x, y, {.epochs = 100, .batch_size = 4});
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/callbacks.h"
#include "nnkit/layers/layer.h"
#include "nnkit/losses.h"
#include "nnkit/metrics.h"
#include "nnkit/optimizers.h"
#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

struct SequentialOptions {
  Shape input_shape = {};  // without the batch dimension; may be left empty until build/fit
  uint64_t seed = 42;      // initial weights, shuffling and dropout all draw from it
  // An autoencoder's: the loss compares the output with the input itself, so training and
  // evaluation need no separate targets (the spec's "target": "input"). The model does not act
  // on it: fit() and evaluate() still take y, which callers such as the CLI set to x.
  bool target_is_input = false;
};

// Where a fit() run stands: `step` batches of epoch `epoch` (0-based) done, with the epoch's
// running loss; `epoch_rng` is the model generator's state when the epoch began, from which
// its shuffled order is drawn again on resuming. At an epoch's end it reads {epoch + 1, 0}.
struct FitPosition {
  int epoch = 0;
  int64_t step = 0;
  double loss_sum = 0;  // the epoch's loss summed over its samples so far
  int64_t seen = 0;     // samples so far in the epoch
  std::array<uint64_t, 4> epoch_rng = {};
};

struct FitOptions {
  int epochs = 1;
  // 1: stochastic gradient descent; the number of samples (or more): batch gradient
  // descent; anything between: minibatch.
  int64_t batch_size = 32;
  bool shuffle = true;
  // The last fraction of x and y (taken before shuffling, as Keras) is held out for validation.
  double validation_split = 0.0;
  std::optional<std::pair<Tensor, Tensor>> validation_data = {};
  std::vector<std::shared_ptr<Callback>> callbacks = {};
  // 0: silent; 1: progress bar; 2: one line per epoch.
  int verbose = 0;
  // Truncated backpropagation through time, for long sequences: 0 backpropagates through the
  // whole sequence; k > 0 cuts each batch's steps into chunks of k, each starting from the
  // state the previous chunk ended in, with no gradient flowing across. With per-step targets
  // (y [N, T, ...]) every chunk takes an optimizer step on its own targets; with one target
  // per sequence the earlier chunks only carry the state and the last one trains.
  int64_t tbptt_steps = 0;
  // Continue a run from a checkpoint's position (io/checkpoint.h): epochs before
  // resume->epoch are skipped (Keras's initial_epoch), so are the first resume->step batches of
  // that epoch, drawn in the same order. The weights, optimizer and generators must be the
  // checkpoint's. Metrics other than the loss restart at the resumed batch.
  std::optional<FitPosition> resume = {};
};

// Per-epoch values of the loss and each metric ("loss", "mae", "val_loss", "val_mae").
struct History {
  std::vector<std::string> names;
  std::map<std::string, std::vector<double>> values;
  int epochs() const;
  const std::vector<double>& operator[](const std::string& name) const;
};

class Sequential {
 public:
  explicit Sequential(SequentialOptions options = {});
  Sequential(Sequential&&) noexcept;
  Sequential& operator=(Sequential&&) noexcept;
  ~Sequential();

  // A model from a spec: {"input_shape": [...], "layers": [...], "loss": ..., "optimizer":
  // ..., "metrics": [...], "seed": n, "target": "input"}; "target", when present, must be
  // "input" (SequentialOptions::target_is_input). Builds it when input_shape is given and compiles
  // it when loss is given (optimizer defaults to "adam"). Throws ValueError/ShapeError naming the
  // layer index and type.
  static Sequential from_spec(const nlohmann::json& spec);
  // The spec of this model (compile settings included once compiled).
  nlohmann::json spec() const;

  Sequential& add(std::unique_ptr<Layer> layer);
  template <class L>
  Sequential& add(L layer) {
    return add(std::unique_ptr<Layer>(new L(std::move(layer))));
  }

  // Builds every layer for inputs of `input_shape` (no batch dimension). Done by fit,
  // evaluate and predict when needed.
  void build(const Shape& input_shape);
  bool built() const { return built_; }

  void compile(std::unique_ptr<Optimizer> optimizer, std::unique_ptr<Loss> loss,
               std::vector<std::string> metrics = {});
  bool compiled() const { return loss_ != nullptr; }

  // Trains on x [samples, ...input] and y [samples, ...output]. Throws ShapeError when the
  // shapes do not fit the model, ValueError on bad options, and ValueError when a stateful layer
  // would see a smaller last batch (batch_size must divide the training and validation samples,
  // which are validated in batches of batch_size, as Keras does).
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  // Inference runs in batches of this many samples unless told otherwise.
  static constexpr int64_t kInferenceBatch = 256;
  // Loss and metrics on x, y in inference mode: {"loss": ..., "mae": ...}. With a stateful
  // layer the batches must all have one size: ValueError unless batch_size divides the samples.
  std::map<std::string, double> evaluate(const Tensor& x, const Tensor& y,
                                         int64_t batch_size = kInferenceBatch);
  // Outputs for x in inference mode (the same rule for stateful layers).
  Tensor predict(const Tensor& x, int64_t batch_size = kInferenceBatch);

  // One step of gradient descent on a batch: forward, loss, backward, optimizer update.
  // Returns the batch's loss; `pred` receives the outputs when not null.
  double train_on_batch(const Tensor& x, const Tensor& y, Tensor* pred = nullptr);
  // train_on_batch with truncated BPTT over chunks of `chunk` steps (FitOptions::tbptt_steps).
  // Throws ValueError when a layer reads the sequence backwards (go_backwards, Bidirectional).
  double train_on_batch_truncated(const Tensor& x, const Tensor& y, int64_t chunk,
                                  Tensor* pred = nullptr);
  // The whole network on a batch (built for x's shape if not yet built). Masks made by a
  // Masking layer travel with the data to the layers that use them.
  Tensor forward(const Tensor& x, Mode mode);

  // Streaming inference, one time step at a time, for online monitoring: x_t [batch, features]
  // (one reading per sequence) -> the model's output after that step. Recurrent layers carry
  // their state from call to call (Recurrent::step); the others run on the step's values.
  // Equal to predict() on the sequence so far when the recurrent layers return the last step.
  // Throws ValueError for layers that need the whole sequence (Bidirectional, Flatten of steps).
  Tensor predict_step(const Tensor& x_t);
  // Clears the state of every recurrent layer: the state predict_step() carries, and the state
  // stateful layers carry between batches. The next sequence starts from zeros.
  void reset_states();
  // True when a layer is stateful (Layer::stateful): every batch must then have one size.
  bool stateful() const;

  // Keras-like table: layer (type), output shape, parameters; totals.
  std::string summary() const;

  std::size_t size() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_.at(i); }
  // Every parameter under its file name, "layers.{i}.{name}".
  std::vector<std::pair<std::string, Param*>> named_params();
  // The parameters the optimizer updates, in the order it keeps its state by.
  std::vector<Param*> trainable_params();
  std::vector<Tensor> get_weights();
  void set_weights(const std::vector<Tensor>& weights);
  void zero_grad();

  Optimizer* optimizer() { return optimizer_.get(); }
  const Loss* loss() const { return loss_.get(); }
  const std::vector<std::string>& metric_names() const { return metric_names_; }
  Rng& rng() { return rng_; }
  const Shape& input_shape() const { return options_.input_shape; }
  Shape output_shape() const;
  uint64_t seed() const { return options_.seed; }
  bool target_is_input() const { return options_.target_is_input; }

  // Set by callbacks to end fit() after the current epoch (or batch).
  bool stop_training = false;
  // During fit(), where the run stands (callbacks read it to save checkpoints).
  const FitPosition& fit_position() const { return position_; }
  // The generators of training: the model's (shuffling), then every layer's (dropout).
  std::vector<Rng*> rngs();

 private:
  void check_compiled(const char* who) const;
  void check_data(const char* who, const Tensor& x, const Tensor* y) const;
  // When the output has one more leading axis than the targets `target` because a recurrent
  // layer returns sequences: advice naming it, to end a shape error's message; else "".
  std::string time_axis_hint(const Shape& target) const;
  // Throws ValueError when a stateful layer would see batches of different sizes: `samples` in
  // batches of `batch_size` leave a smaller last one. With other_samples > 0 (fit: the training
  // and the validation samples) a single smaller batch is refused too, as the state carries
  // from one set to the other, and the advice is a batch size that divides both.
  void check_stateful_batches(const char* who, int64_t samples, int64_t batch_size,
                              int64_t other_samples = 0) const;
  std::vector<std::unique_ptr<Metric>> make_metrics() const;
  void backward(const Tensor& pred, const Tensor& y);

  SequentialOptions options_;
  std::vector<std::unique_ptr<Layer>> layers_;
  bool built_ = false;
  Rng rng_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Loss> loss_;
  std::vector<std::string> metric_names_;
  FitPosition position_;
};

}  // namespace nnkit
