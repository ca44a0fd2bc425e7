#include "nnkit/schedules.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

// Rates are computed in double and rounded once to float.

void check_initial_rate(const char* who, float lr) {
  if (!std::isfinite(lr) || lr < 0.0f) {
    throw ValueError(
        fmt::format("{}: initial_learning_rate must be a number >= 0, got {}", who, lr));
  }
}

void check_steps(const char* who, const char* key, int64_t steps) {
  if (steps <= 0) throw ValueError(fmt::format("{}: {} must be > 0, got {}", who, key, steps));
}

class ExponentialDecay final : public LearningRateSchedule {
 public:
  explicit ExponentialDecay(ExponentialDecayOptions options) : options_(options) {}
  float operator()(int64_t step) const override {
    double p = static_cast<double>(step) / static_cast<double>(options_.decay_steps);
    if (options_.staircase) p = std::floor(p);
    return static_cast<float>(options_.initial_learning_rate *
                              std::pow(static_cast<double>(options_.decay_rate), p));
  }
  nlohmann::json config() const override {
    return {{"type", "exponential_decay"},
            {"initial_learning_rate", detail::json_float(options_.initial_learning_rate)},
            {"decay_steps", options_.decay_steps},
            {"decay_rate", detail::json_float(options_.decay_rate)},
            {"staircase", options_.staircase}};
  }

 private:
  ExponentialDecayOptions options_;
};

class InverseTimeDecay final : public LearningRateSchedule {
 public:
  explicit InverseTimeDecay(InverseTimeDecayOptions options) : options_(options) {}
  float operator()(int64_t step) const override {
    double p = static_cast<double>(step) / static_cast<double>(options_.decay_steps);
    if (options_.staircase) p = std::floor(p);
    return static_cast<float>(options_.initial_learning_rate / (1.0 + options_.decay_rate * p));
  }
  nlohmann::json config() const override {
    return {{"type", "inverse_time_decay"},
            {"initial_learning_rate", detail::json_float(options_.initial_learning_rate)},
            {"decay_steps", options_.decay_steps},
            {"decay_rate", detail::json_float(options_.decay_rate)},
            {"staircase", options_.staircase}};
  }

 private:
  InverseTimeDecayOptions options_;
};

class StepDecay final : public LearningRateSchedule {
 public:
  explicit StepDecay(StepDecayOptions options) : options_(options) {}
  float operator()(int64_t step) const override {
    // Integer division: the exponent is exact for any step count.
    int64_t drops = step / options_.step_size;
    return static_cast<float>(
        options_.initial_learning_rate *
        std::pow(static_cast<double>(options_.decay_rate), static_cast<double>(drops)));
  }
  nlohmann::json config() const override {
    return {{"type", "step_decay"},
            {"initial_learning_rate", detail::json_float(options_.initial_learning_rate)},
            {"step_size", options_.step_size},
            {"decay_rate", detail::json_float(options_.decay_rate)}};
  }

 private:
  StepDecayOptions options_;
};

class CosineDecay final : public LearningRateSchedule {
 public:
  explicit CosineDecay(CosineDecayOptions options) : options_(options) {}
  float operator()(int64_t step) const override {
    double fraction = static_cast<double>(std::min(step, options_.decay_steps)) /
                      static_cast<double>(options_.decay_steps);
    double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * fraction));
    double alpha = options_.alpha;
    return static_cast<float>(options_.initial_learning_rate * ((1.0 - alpha) * cosine + alpha));
  }
  nlohmann::json config() const override {
    return {{"type", "cosine_decay"},
            {"initial_learning_rate", detail::json_float(options_.initial_learning_rate)},
            {"decay_steps", options_.decay_steps},
            {"alpha", detail::json_float(options_.alpha)}};
  }

 private:
  CosineDecayOptions options_;
};

}  // namespace

std::unique_ptr<LearningRateSchedule> make_exponential_decay(ExponentialDecayOptions options) {
  const char* who = "exponential_decay";
  check_initial_rate(who, options.initial_learning_rate);
  check_steps(who, "decay_steps", options.decay_steps);
  if (!std::isfinite(options.decay_rate) || options.decay_rate <= 0.0f) {
    throw ValueError(fmt::format("{}: decay_rate must be > 0, got {}", who, options.decay_rate));
  }
  return std::make_unique<ExponentialDecay>(options);
}

std::unique_ptr<LearningRateSchedule> make_inverse_time_decay(InverseTimeDecayOptions options) {
  const char* who = "inverse_time_decay";
  check_initial_rate(who, options.initial_learning_rate);
  check_steps(who, "decay_steps", options.decay_steps);
  if (!std::isfinite(options.decay_rate) || options.decay_rate < 0.0f) {
    throw ValueError(fmt::format("{}: decay_rate must be >= 0, got {}", who, options.decay_rate));
  }
  return std::make_unique<InverseTimeDecay>(options);
}

std::unique_ptr<LearningRateSchedule> make_step_decay(StepDecayOptions options) {
  const char* who = "step_decay";
  check_initial_rate(who, options.initial_learning_rate);
  check_steps(who, "step_size", options.step_size);
  if (!std::isfinite(options.decay_rate) || options.decay_rate <= 0.0f) {
    throw ValueError(fmt::format("{}: decay_rate must be > 0, got {}", who, options.decay_rate));
  }
  return std::make_unique<StepDecay>(options);
}

std::unique_ptr<LearningRateSchedule> make_cosine_decay(CosineDecayOptions options) {
  const char* who = "cosine_decay";
  check_initial_rate(who, options.initial_learning_rate);
  check_steps(who, "decay_steps", options.decay_steps);
  if (!(options.alpha >= 0.0f && options.alpha <= 1.0f)) {
    throw ValueError(fmt::format("{}: alpha must be in [0, 1], got {}", who, options.alpha));
  }
  return std::make_unique<CosineDecay>(options);
}

std::unique_ptr<LearningRateSchedule> make_schedule(const nlohmann::json& spec) {
  if (!spec.is_object()) {
    throw ValueError(fmt::format(
        "learning-rate schedule: expected an object with \"type\" and its arguments, got {}",
        spec.dump()));
  }
  const std::string given = detail::spec_type("learning-rate schedule", spec);
  const std::string type = detail::to_snake_case(given);
  const std::string who = fmt::format("schedule '{}'", given);
  detail::SpecReader args(who, spec);
  if (type == "exponential_decay") {
    ExponentialDecayOptions o;
    o.initial_learning_rate = args.get_float("initial_learning_rate", o.initial_learning_rate);
    o.decay_steps = args.get_int("decay_steps", o.decay_steps);
    o.decay_rate = args.get_float("decay_rate", o.decay_rate);
    o.staircase = args.get_bool("staircase", o.staircase);
    args.finish();
    return make_exponential_decay(o);
  }
  if (type == "inverse_time_decay") {
    InverseTimeDecayOptions o;
    o.initial_learning_rate = args.get_float("initial_learning_rate", o.initial_learning_rate);
    o.decay_steps = args.get_int("decay_steps", o.decay_steps);
    o.decay_rate = args.get_float("decay_rate", o.decay_rate);
    o.staircase = args.get_bool("staircase", o.staircase);
    args.finish();
    return make_inverse_time_decay(o);
  }
  if (type == "step_decay") {
    StepDecayOptions o;
    o.initial_learning_rate = args.get_float("initial_learning_rate", o.initial_learning_rate);
    o.step_size = args.get_int("step_size", o.step_size);
    o.decay_rate = args.get_float("decay_rate", o.decay_rate);
    args.finish();
    return make_step_decay(o);
  }
  if (type == "cosine_decay") {
    CosineDecayOptions o;
    o.initial_learning_rate = args.get_float("initial_learning_rate", o.initial_learning_rate);
    o.decay_steps = args.get_int("decay_steps", o.decay_steps);
    o.alpha = args.get_float("alpha", o.alpha);
    args.finish();
    return make_cosine_decay(o);
  }
  throw ValueError(fmt::format(
      "unknown learning-rate schedule '{}'; expected one of exponential_decay "
      "(ExponentialDecay), inverse_time_decay (InverseTimeDecay), step_decay, cosine_decay "
      "(CosineDecay)",
      given));
}

}  // namespace nnkit
