// Learning-rate schedules: the rate as a function of the optimizer's step count, as Keras's
// LearningRateSchedule. The seeds ask that SGD's rate decreases; these are the ways.
#pragma once

#include <cstdint>
#include <memory>

#include "nlohmann/json.hpp"

namespace nnkit {

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  // The rate for update number `step` (0 for the first).
  virtual float operator()(int64_t step) const = 0;
  virtual nlohmann::json config() const = 0;
};

// lr0 · rate^(step / decay_steps); with staircase the exponent is floored.
struct ExponentialDecayOptions {
  float initial_learning_rate = 0.01f;
  int64_t decay_steps = 1000;
  float decay_rate = 0.96f;
  bool staircase = false;
};
// lr0 / (1 + rate · step / decay_steps); with staircase the quotient is floored.
struct InverseTimeDecayOptions {
  float initial_learning_rate = 0.01f;
  int64_t decay_steps = 1000;
  float decay_rate = 0.5f;
  bool staircase = false;
};
// lr0 · rate^floor(step / step_size): the classic "drop by half every k steps".
struct StepDecayOptions {
  float initial_learning_rate = 0.01f;
  int64_t step_size = 1000;
  float decay_rate = 0.5f;
};
// lr0 · ((1 - alpha) · 0.5 · (1 + cos(π · min(step, decay_steps) / decay_steps)) + alpha).
struct CosineDecayOptions {
  float initial_learning_rate = 0.01f;
  int64_t decay_steps = 1000;
  float alpha = 0.0f;
};

std::unique_ptr<LearningRateSchedule> make_exponential_decay(ExponentialDecayOptions options);
std::unique_ptr<LearningRateSchedule> make_inverse_time_decay(InverseTimeDecayOptions options);
std::unique_ptr<LearningRateSchedule> make_step_decay(StepDecayOptions options);
std::unique_ptr<LearningRateSchedule> make_cosine_decay(CosineDecayOptions options);

// {"type": "exponential_decay", "initial_learning_rate": 0.1, "decay_steps": 100, ...};
// also Keras class names (ExponentialDecay, ...). Throws ValueError.
std::unique_ptr<LearningRateSchedule> make_schedule(const nlohmann::json& spec);

}  // namespace nnkit
