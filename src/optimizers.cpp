#include "nnkit/optimizers.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;

// Σ x² in double, summed in fixed chunks and then in chunk order, so the result (and with it
// every clipped update) is the same bits whatever the number of threads.
double squared_norm(int64_t n, const float* x) {
  constexpr int64_t kChunk = 1 << 14;
  auto serial = [](const float* p, int64_t count) {
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < count; ++i) sum += static_cast<double>(p[i]) * p[i];
    return sum;
  };
  int64_t chunks = (n + kChunk - 1) / kChunk;
  if (chunks <= 1) return serial(x, n);
  std::vector<double> partial(static_cast<std::size_t>(chunks));
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t c = 0; c < chunks; ++c) {
    partial[static_cast<std::size_t>(c)] = serial(x + c * kChunk, std::min(kChunk, n - c * kChunk));
  }
  double sum = 0;
  for (double s : partial) sum += s;
  return sum;
}

void scale_in_place(Tensor& t, float factor) {
  float* x = t.data();
  const int64_t n = t.size();
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

// 1 - x for a coefficient given as float, computed in double and rounded once.
float one_minus(float x) { return static_cast<float>(1.0 - static_cast<double>(x)); }

void check_rate(const std::string& who, float lr) {
  if (!std::isfinite(lr) || lr < 0.0f) {
    throw ValueError(fmt::format("{}: learning_rate must be a number >= 0, got {}", who, lr));
  }
}

// lo <= value <= hi, or lo <= value < hi when !include_hi.
void check_range(const std::string& who, const char* key, float value, float lo, float hi,
                 bool include_hi) {
  bool ok = value >= lo && (include_hi ? value <= hi : value < hi);
  if (!ok) {
    throw ValueError(fmt::format("{}: {} must be in [{}, {}{}, got {}", who, key, lo, hi,
                                 include_hi ? "]" : ")", value));
  }
}

void check_non_negative(const std::string& who, const char* key, float value) {
  if (!(std::isfinite(value) && value >= 0.0f)) {
    throw ValueError(fmt::format("{}: {} must be a number >= 0, got {}", who, key, value));
  }
}

void check_clip(const std::string& who, const ClipOptions& clip) {
  auto positive = [&](const char* key, const std::optional<float>& v) {
    if (v && !(std::isfinite(*v) && *v > 0.0f)) {
      throw ValueError(fmt::format("{}: {} must be a number > 0, got {}", who, key, *v));
    }
  };
  positive("clipnorm", clip.clipnorm);
  positive("clipvalue", clip.clipvalue);
  positive("global_clipnorm", clip.global_clipnorm);
}

// An optimizer whose state is a fixed list of named slots per trainable parameter, each a
// tensor shaped like the parameter (PyTorch's state_dict names).
class SlotOptimizer : public Optimizer {
 public:
  std::vector<std::pair<std::string, Tensor*>> state() override {
    std::vector<std::pair<std::string, Tensor*>> out;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      for (std::size_t s = 0; s < slots_[i].size(); ++s) {
        out.emplace_back(fmt::format("{}.{}", i, slot_names_[s]), &slots_[i][s]);
      }
    }
    return out;
  }

 protected:
  SlotOptimizer(float learning_rate, ClipOptions clip, std::vector<std::string> slot_names)
      : Optimizer(learning_rate, clip), slot_names_(std::move(slot_names)) {}

  void create_state(const std::vector<Param*>& params) override {
    slots_.assign(params.size(), {});
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (params[i] == nullptr || !params[i]->trainable) continue;
      for (std::size_t s = 0; s < slot_names_.size(); ++s) {
        slots_[i].emplace_back(params[i]->value.shape(), initial_value(s));
      }
    }
  }
  // The starting value of slot `s` (Adagrad's accumulator starts above zero).
  virtual float initial_value(std::size_t /*slot*/) const { return 0.0f; }

  float* slot(std::size_t index, std::size_t s) { return slots_[index][s].data(); }

 private:
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Tensor>> slots_;  // [param position][slot]; empty when frozen
};

// ---- SGD --------------------------------------------------------------------------------

class SGD final : public SlotOptimizer {
 public:
  explicit SGD(SGDOptions options)
      : SlotOptimizer(options.learning_rate, options.clip,
                      options.momentum > 0.0f ? std::vector<std::string>{"momentum_buffer"}
                                              : std::vector<std::string>{}),
        options_(options) {}
  std::string name() const override { return "sgd"; }

 protected:
  // PyTorch: b = momentum·b + g (b starts at zero, so the first b is g);
  // w -= lr·b, or with nesterov w -= lr·(g + momentum·b).
  void update(std::size_t index, Param& param, float lr, int64_t /*t*/) override {
    float* __restrict w = param.value.data();
    const float* __restrict g = param.grad.data();
    const int64_t n = param.value.size();
    if (options_.momentum == 0.0f) {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
      return;
    }
    float* __restrict b = slot(index, 0);
    const float momentum = options_.momentum;
    if (options_.nesterov) {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) {
        b[i] = momentum * b[i] + g[i];
        w[i] -= lr * (g[i] + momentum * b[i]);
      }
    } else {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) {
        b[i] = momentum * b[i] + g[i];
        w[i] -= lr * b[i];
      }
    }
  }
  nlohmann::json extra_config() const override {
    return {{"momentum", detail::json_float(options_.momentum)}, {"nesterov", options_.nesterov}};
  }

 private:
  SGDOptions options_;
};

// ---- Adam and AdamW ---------------------------------------------------------------------

struct AdamCore {
  float beta_1, beta_2, epsilon;
  bool amsgrad;
};

std::vector<std::string> adam_slots(bool amsgrad) {
  if (amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

// PyTorch's Adam step t (1-based):
//   m = b1·m + (1-b1)·g;  v = b2·v + (1-b2)·g²;  (amsgrad: v_max = max(v_max, v))
//   w -= lr / (1 - b1^t) · m / (√v / √(1 - b2^t) + eps)
void adam_update(const AdamCore& c, float* __restrict w, const float* __restrict g,
                 float* __restrict m, float* __restrict v, float* __restrict v_max, int64_t n,
                 float lr, int64_t t) {
  const double td = static_cast<double>(t);
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(c.beta_1), td);
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(c.beta_2), td);
  const float step_size = static_cast<float>(lr / bias_correction1);
  // Multiplying by the reciprocal keeps one division (m / denom) in the loop, not two.
  const float inv_bias_correction2_sqrt = static_cast<float>(1.0 / std::sqrt(bias_correction2));
  const float b1 = c.beta_1, b2 = c.beta_2, eps = c.epsilon;
  const float one_minus_b1 = one_minus(b1), one_minus_b2 = one_minus(b2);
  if (c.amsgrad) {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = b1 * m[i] + one_minus_b1 * g[i];
      v[i] = b2 * v[i] + one_minus_b2 * g[i] * g[i];
      v_max[i] = std::max(v_max[i], v[i]);
      float denom = std::sqrt(v_max[i]) * inv_bias_correction2_sqrt + eps;
      w[i] -= step_size * (m[i] / denom);
    }
  } else {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = b1 * m[i] + one_minus_b1 * g[i];
      v[i] = b2 * v[i] + one_minus_b2 * g[i] * g[i];
      float denom = std::sqrt(v[i]) * inv_bias_correction2_sqrt + eps;
      w[i] -= step_size * (m[i] / denom);
    }
  }
}

nlohmann::json adam_config(const AdamCore& c) {
  return {{"beta_1", detail::json_float(c.beta_1)},
          {"beta_2", detail::json_float(c.beta_2)},
          {"epsilon", detail::json_float(c.epsilon)},
          {"amsgrad", c.amsgrad}};
}

class Adam final : public SlotOptimizer {
 public:
  explicit Adam(AdamOptions o)
      : SlotOptimizer(o.learning_rate, o.clip, adam_slots(o.amsgrad)),
        core_{o.beta_1, o.beta_2, o.epsilon, o.amsgrad} {}
  std::string name() const override { return "adam"; }

 protected:
  void update(std::size_t index, Param& param, float lr, int64_t t) override {
    adam_update(core_, param.value.data(), param.grad.data(), slot(index, 0), slot(index, 1),
                core_.amsgrad ? slot(index, 2) : nullptr, param.value.size(), lr, t);
  }
  nlohmann::json extra_config() const override { return adam_config(core_); }

 private:
  AdamCore core_;
};

class AdamW final : public SlotOptimizer {
 public:
  explicit AdamW(AdamWOptions o)
      : SlotOptimizer(o.learning_rate, o.clip, adam_slots(o.amsgrad)),
        weight_decay_(o.weight_decay),
        core_{o.beta_1, o.beta_2, o.epsilon, o.amsgrad} {}
  std::string name() const override { return "adamw"; }

 protected:
  // PyTorch's AdamW: w *= 1 - lr·weight_decay (decoupled from the gradient), then Adam.
  void update(std::size_t index, Param& param, float lr, int64_t t) override {
    if (weight_decay_ != 0.0f) {
      scale_in_place(param.value, static_cast<float>(1.0 - static_cast<double>(lr) *
                                                               static_cast<double>(weight_decay_)));
    }
    adam_update(core_, param.value.data(), param.grad.data(), slot(index, 0), slot(index, 1),
                core_.amsgrad ? slot(index, 2) : nullptr, param.value.size(), lr, t);
  }
  nlohmann::json extra_config() const override {
    nlohmann::json j = adam_config(core_);
    j["weight_decay"] = detail::json_float(weight_decay_);
    return j;
  }

 private:
  float weight_decay_;
  AdamCore core_;
};

// ---- RMSprop ----------------------------------------------------------------------------

std::vector<std::string> rmsprop_slots(const RMSpropOptions& o) {
  std::vector<std::string> slots{"square_avg"};
  if (o.momentum > 0.0f) slots.push_back("momentum_buffer");
  if (o.centered) slots.push_back("grad_avg");
  return slots;
}

class RMSprop final : public SlotOptimizer {
 public:
  explicit RMSprop(RMSpropOptions o)
      : SlotOptimizer(o.learning_rate, o.clip, rmsprop_slots(o)), options_(o) {}
  std::string name() const override { return "rmsprop"; }

 protected:
  // PyTorch's RMSprop (alpha = rho):
  //   v = rho·v + (1-rho)·g²;  centered: ḡ = rho·ḡ + (1-rho)·g, avg = √(v - ḡ²) + eps,
  //   else avg = √v + eps;  momentum: b = momentum·b + g/avg, w -= lr·b;  else w -= lr·g/avg.
  void update(std::size_t index, Param& param, float lr, int64_t /*t*/) override {
    float* __restrict w = param.value.data();
    const float* __restrict g = param.grad.data();
    const int64_t n = param.value.size();
    const float rho = options_.rho, one_minus_rho = one_minus(options_.rho);
    const float eps = options_.epsilon, momentum = options_.momentum;
    const bool use_momentum = momentum > 0.0f;
    float* __restrict v = slot(index, 0);
    float* __restrict b = use_momentum ? slot(index, 1) : nullptr;
    float* __restrict g_avg = options_.centered ? slot(index, use_momentum ? 2 : 1) : nullptr;
    // Four plain loops rather than branches inside one, so each vectorises.
    if (options_.centered && use_momentum) {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) {
        v[i] = rho * v[i] + one_minus_rho * g[i] * g[i];
        g_avg[i] = rho * g_avg[i] + one_minus_rho * g[i];
        float avg = std::sqrt(v[i] - g_avg[i] * g_avg[i]) + eps;
        b[i] = momentum * b[i] + g[i] / avg;
        w[i] -= lr * b[i];
      }
    } else if (options_.centered) {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) {
        v[i] = rho * v[i] + one_minus_rho * g[i] * g[i];
        g_avg[i] = rho * g_avg[i] + one_minus_rho * g[i];
        float avg = std::sqrt(v[i] - g_avg[i] * g_avg[i]) + eps;
        w[i] -= lr * (g[i] / avg);
      }
    } else if (use_momentum) {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) {
        v[i] = rho * v[i] + one_minus_rho * g[i] * g[i];
        float avg = std::sqrt(v[i]) + eps;
        b[i] = momentum * b[i] + g[i] / avg;
        w[i] -= lr * b[i];
      }
    } else {
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) {
        v[i] = rho * v[i] + one_minus_rho * g[i] * g[i];
        float avg = std::sqrt(v[i]) + eps;
        w[i] -= lr * (g[i] / avg);
      }
    }
  }
  nlohmann::json extra_config() const override {
    return {{"rho", detail::json_float(options_.rho)},
            {"momentum", detail::json_float(options_.momentum)},
            {"epsilon", detail::json_float(options_.epsilon)},
            {"centered", options_.centered}};
  }

 private:
  RMSpropOptions options_;
};

// ---- Adagrad ----------------------------------------------------------------------------

class Adagrad final : public SlotOptimizer {
 public:
  explicit Adagrad(AdagradOptions o)
      : SlotOptimizer(o.learning_rate, o.clip, {"sum"}), options_(o) {}
  std::string name() const override { return "adagrad"; }

 protected:
  float initial_value(std::size_t /*slot*/) const override {
    return options_.initial_accumulator_value;
  }
  // PyTorch's Adagrad: a += g²; w -= lr·g / (√a + eps).
  void update(std::size_t index, Param& param, float lr, int64_t /*t*/) override {
    float* __restrict w = param.value.data();
    const float* __restrict g = param.grad.data();
    float* __restrict a = slot(index, 0);
    const int64_t n = param.value.size();
    const float eps = options_.epsilon;
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
    for (int64_t i = 0; i < n; ++i) {
      a[i] += g[i] * g[i];
      w[i] -= lr * (g[i] / (std::sqrt(a[i]) + eps));
    }
  }
  nlohmann::json extra_config() const override {
    return {{"initial_accumulator_value", detail::json_float(options_.initial_accumulator_value)},
            {"epsilon", detail::json_float(options_.epsilon)}};
  }

 private:
  AdagradOptions options_;
};

bool is_trainable(const Param* p) { return p != nullptr && p->trainable; }

}  // namespace

// ---- Optimizer --------------------------------------------------------------------------

void Optimizer::build(const std::vector<Param*>& params) {
  if (state_ready_) {
    if (params.size() != param_count_) {
      throw ValueError(fmt::format(
          "optimizer {}: step() was given {} parameters, but its state was made for {}; "
          "give the same parameters in the same order at every step",
          name(), params.size(), param_count_));
    }
    return;
  }
  create_state(params);
  param_count_ = params.size();
  state_ready_ = true;
}

void Optimizer::step(const std::vector<Param*>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Param* p = params[i];
    if (is_trainable(p) && p->grad.shape() != p->value.shape()) {
      throw ShapeError(fmt::format("optimizer {}: parameter {} '{}' is {} but its grad is {}",
                                   name(), i, p->name, shape_to_string(p->value.shape()),
                                   shape_to_string(p->grad.shape())));
    }
  }
  build(params);
  clip(params);
  const float lr = learning_rate();
  const int64_t t = iterations_ + 1;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (is_trainable(params[i])) update(i, *params[i], lr, t);
  }
  ++iterations_;
}

// Keras's order: clipvalue, then clipnorm per parameter (g·n / max(‖g‖, n), as
// tf.clip_by_norm), then global_clipnorm over all of them (as clip_grad_norm_: scaled by
// n / (‖g‖ + 1e-6) when that is below 1).
void Optimizer::clip(const std::vector<Param*>& params) const {
  if (clip_.clipvalue) {
    const float v = *clip_.clipvalue;
    for (Param* p : params) {
      if (!is_trainable(p)) continue;
      float* g = p->grad.data();
      const int64_t n = p->grad.size();
#pragma omp parallel for simd if (parallel : n > kParallelThreshold)
      for (int64_t i = 0; i < n; ++i) g[i] = std::clamp(g[i], -v, v);
    }
  }
  if (clip_.clipnorm) {
    const double max_norm = *clip_.clipnorm;
    for (Param* p : params) {
      if (!is_trainable(p)) continue;
      double norm = std::sqrt(squared_norm(p->grad.size(), p->grad.data()));
      if (norm > max_norm) scale_in_place(p->grad, static_cast<float>(max_norm / norm));
    }
  }
  if (clip_.global_clipnorm) {
    double total = 0;
    for (Param* p : params) {
      if (is_trainable(p)) total += squared_norm(p->grad.size(), p->grad.data());
    }
    const double coef = *clip_.global_clipnorm / (std::sqrt(total) + 1e-6);
    if (coef < 1.0) {
      for (Param* p : params) {
        if (is_trainable(p)) scale_in_place(p->grad, static_cast<float>(coef));
      }
    }
  }
}

float Optimizer::learning_rate() const {
  return schedule_ ? (*schedule_)(iterations_) : learning_rate_;
}

void Optimizer::set_learning_rate(float lr) {
  check_rate(fmt::format("optimizer {}", name()), lr);
  learning_rate_ = lr;
  schedule_.reset();
}

void Optimizer::set_schedule(std::unique_ptr<LearningRateSchedule> schedule) {
  schedule_ = std::move(schedule);
}

nlohmann::json Optimizer::config() const {
  nlohmann::json j = extra_config();
  j["type"] = name();
  j["learning_rate"] =
      schedule_ ? schedule_->config() : nlohmann::json(detail::json_float(learning_rate_));
  if (clip_.clipnorm) j["clipnorm"] = detail::json_float(*clip_.clipnorm);
  if (clip_.clipvalue) j["clipvalue"] = detail::json_float(*clip_.clipvalue);
  if (clip_.global_clipnorm) j["global_clipnorm"] = detail::json_float(*clip_.global_clipnorm);
  return j;
}

// ---- factories --------------------------------------------------------------------------

std::unique_ptr<Optimizer> make_sgd(SGDOptions o) {
  const std::string who = "optimizer sgd";
  check_rate(who, o.learning_rate);
  check_clip(who, o.clip);
  check_range(who, "momentum", o.momentum, 0.0f, 1.0f, true);
  if (o.nesterov && o.momentum == 0.0f) {
    throw ValueError(fmt::format("{}: nesterov needs a momentum > 0", who));
  }
  return std::make_unique<SGD>(o);
}

std::unique_ptr<Optimizer> make_adam(AdamOptions o) {
  const std::string who = "optimizer adam";
  check_rate(who, o.learning_rate);
  check_clip(who, o.clip);
  check_range(who, "beta_1", o.beta_1, 0.0f, 1.0f, false);
  check_range(who, "beta_2", o.beta_2, 0.0f, 1.0f, false);
  check_non_negative(who, "epsilon", o.epsilon);
  return std::make_unique<Adam>(o);
}

std::unique_ptr<Optimizer> make_adamw(AdamWOptions o) {
  const std::string who = "optimizer adamw";
  check_rate(who, o.learning_rate);
  check_clip(who, o.clip);
  check_range(who, "beta_1", o.beta_1, 0.0f, 1.0f, false);
  check_range(who, "beta_2", o.beta_2, 0.0f, 1.0f, false);
  check_non_negative(who, "epsilon", o.epsilon);
  check_non_negative(who, "weight_decay", o.weight_decay);
  return std::make_unique<AdamW>(o);
}

std::unique_ptr<Optimizer> make_rmsprop(RMSpropOptions o) {
  const std::string who = "optimizer rmsprop";
  check_rate(who, o.learning_rate);
  check_clip(who, o.clip);
  check_range(who, "rho", o.rho, 0.0f, 1.0f, true);
  check_range(who, "momentum", o.momentum, 0.0f, 1.0f, true);
  check_non_negative(who, "epsilon", o.epsilon);
  return std::make_unique<RMSprop>(o);
}

std::unique_ptr<Optimizer> make_adagrad(AdagradOptions o) {
  const std::string who = "optimizer adagrad";
  check_rate(who, o.learning_rate);
  check_clip(who, o.clip);
  check_non_negative(who, "initial_accumulator_value", o.initial_accumulator_value);
  check_non_negative(who, "epsilon", o.epsilon);
  return std::make_unique<Adagrad>(o);
}

namespace {

// The clipping arguments every optimizer takes.
ClipOptions read_clip(detail::SpecReader& args) {
  return {.clipnorm = args.get_optional_float("clipnorm"),
          .clipvalue = args.get_optional_float("clipvalue"),
          .global_clipnorm = args.get_optional_float("global_clipnorm")};
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& spec) {
  const std::string given = detail::spec_type("optimizer", spec);
  const std::string type = detail::to_lower(given);
  const std::string who = fmt::format("optimizer '{}'", given);

  // A schedule object in place of the number: the optimizer starts from the schedule's
  // first rate and follows it.
  std::unique_ptr<LearningRateSchedule> schedule;
  nlohmann::json arguments = spec.is_object() ? spec : nlohmann::json::object();
  if (arguments.contains("learning_rate") && arguments.at("learning_rate").is_object()) {
    schedule = make_schedule(arguments.at("learning_rate"));
    arguments["learning_rate"] = (*schedule)(0);
  }
  detail::SpecReader args(who, arguments);

  std::unique_ptr<Optimizer> optimizer;
  if (type == "sgd") {
    SGDOptions o;
    o.learning_rate = args.get_float("learning_rate", o.learning_rate);
    o.momentum = args.get_float("momentum", o.momentum);
    o.nesterov = args.get_bool("nesterov", o.nesterov);
    o.clip = read_clip(args);
    args.finish();
    optimizer = make_sgd(o);
  } else if (type == "adam" || type == "adamw") {
    // The arguments Adam and AdamW share.
    auto read_adam = [&](auto& o) {
      o.learning_rate = args.get_float("learning_rate", o.learning_rate);
      o.beta_1 = args.get_float("beta_1", o.beta_1);
      o.beta_2 = args.get_float("beta_2", o.beta_2);
      o.epsilon = args.get_float("epsilon", o.epsilon);
      o.amsgrad = args.get_bool("amsgrad", o.amsgrad);
      o.clip = read_clip(args);
    };
    if (type == "adam") {
      AdamOptions o;
      read_adam(o);
      args.finish();
      optimizer = make_adam(o);
    } else {
      AdamWOptions o;
      read_adam(o);
      o.weight_decay = args.get_float("weight_decay", o.weight_decay);
      args.finish();
      optimizer = make_adamw(o);
    }
  } else if (type == "rmsprop") {
    RMSpropOptions o;
    o.learning_rate = args.get_float("learning_rate", o.learning_rate);
    o.rho = args.get_float("rho", o.rho);
    o.momentum = args.get_float("momentum", o.momentum);
    o.epsilon = args.get_float("epsilon", o.epsilon);
    o.centered = args.get_bool("centered", o.centered);
    o.clip = read_clip(args);
    args.finish();
    optimizer = make_rmsprop(o);
  } else if (type == "adagrad") {
    AdagradOptions o;
    o.learning_rate = args.get_float("learning_rate", o.learning_rate);
    o.initial_accumulator_value =
        args.get_float("initial_accumulator_value", o.initial_accumulator_value);
    o.epsilon = args.get_float("epsilon", o.epsilon);
    o.clip = read_clip(args);
    args.finish();
    optimizer = make_adagrad(o);
  } else {
    throw ValueError(fmt::format(
        "unknown optimizer '{}'; expected one of sgd, adam, adamw, rmsprop, adagrad", given));
  }
  if (schedule) optimizer->set_schedule(std::move(schedule));
  return optimizer;
}

}  // namespace nnkit
