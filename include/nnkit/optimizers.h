// Optimizers by Keras name. Updates follow PyTorch's formulas (so a PyTorch-trained model
// and nnkit agree step for step) with Keras's argument names and defaults.
//
// Before the update, gradients are clipped as Keras does, in this order: clipvalue
// (element-wise to [-v, v]), clipnorm (each parameter's gradient scaled to L2 norm <= n),
// global_clipnorm (all gradients together scaled to L2 norm <= n, as
// torch.nn.utils.clip_grad_norm_). Clipping changes the grads in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/layers/layer.h"
#include "nnkit/schedules.h"

namespace nnkit {

// Default member initializers everywhere so that designated initializers may leave any
// option out ({.clip = {.clipnorm = 1.0f}}) without -Wmissing-field-initializers.
struct ClipOptions {
  std::optional<float> clipnorm = std::nullopt;
  std::optional<float> clipvalue = std::nullopt;
  std::optional<float> global_clipnorm = std::nullopt;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;

  // One update of every trainable parameter from its grad. The list must be the same
  // parameters in the same order at every call (the state is kept by position); params
  // with trainable == false are skipped and get no state. Reads the grads (after clipping
  // them), does not clear them. Throws ShapeError when a grad's shape differs from its
  // value's, ValueError when the number of params changed since the first call.
  void step(const std::vector<Param*>& params);
  // Creates the per-parameter state for `params` now (step() does it on its first call),
  // so that a checkpoint's tensors can be copied into state() before training resumes.
  // Does nothing when the state exists already.
  void build(const std::vector<Param*>& params);

  // The rate the next step() uses (the schedule's value at iterations(), if any).
  float learning_rate() const;
  // Sets a constant rate, replacing any schedule (ReduceLROnPlateau, LearningRateScheduler).
  // Throws ValueError on a negative or non-finite rate.
  void set_learning_rate(float lr);
  void set_schedule(std::unique_ptr<LearningRateSchedule> schedule);
  // Number of step() calls so far.
  int64_t iterations() const { return iterations_; }
  void set_iterations(int64_t n) { iterations_ = n; }

  // Per-parameter state tensors (moments, momentum buffers) for checkpoints, named
  // "{param position}.{slot}" with PyTorch's slot names: "0.exp_avg", "0.exp_avg_sq",
  // "0.max_exp_avg_sq" (Adam, AdamW), "0.momentum_buffer" (SGD, RMSprop), "0.square_avg",
  // "0.grad_avg" (RMSprop), "0.sum" (Adagrad). Empty before the first step() or build().
  virtual std::vector<std::pair<std::string, Tensor*>> state() = 0;
  // Keras-style config with "type", "learning_rate" (a number or a schedule's config) and
  // the clip options that are set; make_optimizer(config()) rebuilds the optimizer.
  nlohmann::json config() const;

 protected:
  Optimizer(float learning_rate, ClipOptions clip) : learning_rate_(learning_rate), clip_(clip) {}
  // Prepares per-parameter state for `params` (called on the first step()).
  virtual void create_state(const std::vector<Param*>& params) = 0;
  // Updates parameter `index` with its (clipped) grad at rate lr; `t` is the 1-based step.
  virtual void update(std::size_t index, Param& param, float lr, int64_t t) = 0;
  // The arguments beyond learning rate and clipping, for config().
  virtual nlohmann::json extra_config() const = 0;

 private:
  void clip(const std::vector<Param*>& params) const;

  float learning_rate_;
  ClipOptions clip_;
  std::unique_ptr<LearningRateSchedule> schedule_;
  int64_t iterations_ = 0;
  bool state_ready_ = false;
  std::size_t param_count_ = 0;  // the length of the list the state was created for
};

// PyTorch's form: b = momentum·b + g; w -= lr·b (nesterov: w -= lr·(g + momentum·b)).
struct SGDOptions {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  ClipOptions clip = {};
};
// m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g²; w -= lr·m̂ / (√v̂ + epsilon).
struct AdamOptions {
  float learning_rate = 0.001f;
  float beta_1 = 0.9f;
  float beta_2 = 0.999f;
  float epsilon = 1e-7f;
  bool amsgrad = false;
  ClipOptions clip = {};
};
// Adam with decoupled weight decay: w -= lr·weight_decay·w before the Adam update.
struct AdamWOptions {
  float learning_rate = 0.001f;
  float weight_decay = 0.004f;
  float beta_1 = 0.9f;
  float beta_2 = 0.999f;
  float epsilon = 1e-7f;
  bool amsgrad = false;
  ClipOptions clip = {};
};
// v = rho·v + (1-rho)·g²; w -= lr·g / (√v + epsilon), as PyTorch (epsilon outside the
// root). centered: ḡ = rho·ḡ + (1-rho)·g and √(v - ḡ²) in place of √v. momentum:
// b = momentum·b + g / (√v + epsilon); w -= lr·b.
struct RMSpropOptions {
  float learning_rate = 0.001f;
  float rho = 0.9f;
  float momentum = 0.0f;
  float epsilon = 1e-7f;
  bool centered = false;
  ClipOptions clip = {};
};
// a += g²; w -= lr·g / (√a + epsilon), a starting at initial_accumulator_value.
struct AdagradOptions {
  float learning_rate = 0.001f;
  float initial_accumulator_value = 0.1f;
  float epsilon = 1e-7f;
  ClipOptions clip = {};
};

std::unique_ptr<Optimizer> make_sgd(SGDOptions options);
std::unique_ptr<Optimizer> make_adam(AdamOptions options);
std::unique_ptr<Optimizer> make_adamw(AdamWOptions options);
std::unique_ptr<Optimizer> make_rmsprop(RMSpropOptions options);
std::unique_ptr<Optimizer> make_adagrad(AdagradOptions options);

// "adam", or {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "clipnorm": 1.0};
// learning_rate may be a schedule object. Throws ValueError naming unknown names/arguments.
std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& spec);

}  // namespace nnkit
