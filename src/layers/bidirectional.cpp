#include "nnkit/layers/bidirectional.h"

#include <omp.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "nnkit/kernels/elementwise.h"
#include "nnkit/kernels/threads.h"
#include "nnkit/layers/recurrent.h"
#include "nnkit/layers/registry.h"
#include "sequence_layout.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

// seq [N, T, W] with its time axis reversed: the backward layer's processed order to input order
// and back (the reversal is its own inverse).
Tensor reverse_steps(const Tensor& seq) {
  const int64_t batch = seq.dim(0), steps = seq.dim(1), width = seq.dim(2);
  Tensor out = Tensor::uninitialized(seq.shape());
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t t = 0; t < steps; ++t) {
      std::copy_n(seq.data() + (n * steps + t) * width, width,
                  out.data() + (n * steps + steps - 1 - t) * width);
    }
  }
  return out;
}

// Runs first() and second() at once, one thread each, when nnkit has exactly two threads; else
// one after the other. The two directions share nothing, and a recurrent layer on one thread
// avoids the per-step synchronisation its own parallel loops cost (nested regions are inactive,
// and oneDNN's GEMM runs sequentially inside a parallel region): measured on 2 threads, LSTM(128)
// over 64 steps, best of many runs, 0.47 -> 0.27 ms at batch 1 (inference) and 22 -> 17 ms at
// batch 32 (bench/README.md). With more threads the inner layers keep them all for their own
// loops: one thread per direction is not measured to win there. Exceptions are carried out.
template <typename First, typename Second>
void run_both(const First& first, const Second& second) {
  if (num_threads() != 2 || omp_in_parallel()) {
    first();
    second();
    return;
  }
  std::exception_ptr errors[2];
#pragma omp parallel sections num_threads(2)
  {
#pragma omp section
    {
      try {
        first();
      } catch (...) {
        errors[0] = std::current_exception();
      }
    }
#pragma omp section
    {
      try {
        second();
      } catch (...) {
        errors[1] = std::current_exception();
      }
    }
  }
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

// Recurrent layers are those whose config has the two flags the wrapper relies on: go_backwards,
// flipped for the backward layer, and return_sequences, which decides the output's shape.
bool is_recurrent(const nlohmann::json& config) {
  return config.contains("go_backwards") && config["go_backwards"].is_boolean() &&
         config.contains("return_sequences") && config["return_sequences"].is_boolean();
}

}  // namespace

Bidirectional::Bidirectional(std::unique_ptr<Layer> layer, BidirectionalOptions options)
    : forward_(std::move(layer)), options_(std::move(options)) {
  if (forward_ == nullptr) throw ValueError("Bidirectional: argument 'layer' is null");
  nlohmann::json inner = forward_->config();
  if (!is_recurrent(inner)) {
    throw ValueError(fmt::format(
        "Bidirectional: argument 'layer' must be a recurrent layer (LSTM, GRU or SimpleRNN), got "
        "{}",
        forward_->type()));
  }
  static constexpr std::pair<const char*, MergeMode> kModes[] = {{"concat", MergeMode::Concat},
                                                                 {"sum", MergeMode::Sum},
                                                                 {"mul", MergeMode::Mul},
                                                                 {"ave", MergeMode::Ave}};
  auto mode = std::find_if(std::begin(kModes), std::end(kModes),
                           [&](const auto& m) { return options_.merge_mode == m.first; });
  if (mode == std::end(kModes)) {
    std::string hint = detail::closest_match(options_.merge_mode, {"concat", "sum", "mul", "ave"});
    throw ValueError(fmt::format(
        "Bidirectional: unknown merge_mode '{}'{}; expected concat, sum, mul or ave",
        options_.merge_mode, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
  }
  merge_mode_ = mode->second;
  return_sequences_ = inner["return_sequences"].get<bool>();
  // Keras's backward layer: the same arguments, the other direction.
  inner["go_backwards"] = !inner["go_backwards"].get<bool>();
  backward_ = make_layer(inner);
}

std::unique_ptr<Layer> Bidirectional::from_config(const nlohmann::json& config) {
  detail::SpecReader args("Bidirectional", config);
  args.require("layer");
  const nlohmann::json* inner = args.get_object("layer");
  if (args.has("merge_mode") && config["merge_mode"].is_null()) {
    // Keras's None returns the two outputs separately; a Sequential layer has one output.
    throw ValueError(
        "Bidirectional: merge_mode null (two separate outputs) is not supported; use concat, "
        "sum, mul or ave");
  }
  BidirectionalOptions o;
  o.merge_mode = args.get_string("merge_mode", o.merge_mode);
  args.finish();
  std::unique_ptr<Layer> layer;
  try {
    layer = make_layer(*inner);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("Bidirectional: argument 'layer': {}", e.what()));
  }
  return std::make_unique<Bidirectional>(std::move(layer), std::move(o));
}

std::string Bidirectional::who() const {
  const nlohmann::json inner = forward_->config();
  if (!inner.contains("units")) return fmt::format("Bidirectional({})", forward_->type());
  return fmt::format("Bidirectional({}(units={}))", forward_->type(), inner["units"].dump());
}

Shape Bidirectional::build(const Shape& input, Rng& rng) {
  detail::check_sequence_shape(who(), input);
  // Forward first, then backward: the order in which they draw from rng.
  Shape out = forward_->build(input, rng);
  backward_->build(input, rng);
  for (auto [layer, prefix] :
       {std::pair{forward_.get(), "forward."}, std::pair{backward_.get(), "backward."}}) {
    for (Param* p : layer->params()) {
      if (!p->name.starts_with(prefix)) p->name = prefix + p->name;
    }
  }
  features_ = input[1];
  units_ = out.back();
  if (merge_mode_ == MergeMode::Concat) out.back() = 2 * units_;
  cached_ = false;
  y_forward_ = Tensor();
  y_backward_ = Tensor();
  input_shape_ = input;
  output_shape_ = out;
  return output_shape_;
}

Tensor Bidirectional::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  cached_ = false;
  Tensor yf, yb;
  run_both([&] { yf = forward_->forward(x, mode); }, [&] { yb = backward_->forward(x, mode); });
  // The backward layer returns its sequence in processed order; step t must meet forward's h_t.
  if (return_sequences_) yb = reverse_steps(yb);

  const int64_t rows = yf.size() / units_, units = units_;
  Shape shape = yf.shape();
  if (merge_mode_ == MergeMode::Concat) shape.back() = 2 * units;
  Tensor y = Tensor::uninitialized(shape);
  switch (merge_mode_) {
    case MergeMode::Concat:
      for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(yf.data() + r * units, units, y.data() + 2 * r * units);
        std::copy_n(yb.data() + r * units, units, y.data() + (2 * r + 1) * units);
      }
      break;
    case MergeMode::Sum:
      add(y.size(), yf.data(), yb.data(), y.data());
      break;
    case MergeMode::Mul:
      mul(y.size(), yf.data(), yb.data(), y.data());
      break;
    case MergeMode::Ave:
      add(y.size(), yf.data(), yb.data(), y.data());
      scale(y.size(), 0.5f, y.data());
      break;
  }
  y_forward_ = Tensor();
  y_backward_ = Tensor();
  if (mode == Mode::Train) {
    // d(f ⊙ b) = b ⊙ dy for f and f ⊙ dy for b: only mul reads the outputs back.
    if (merge_mode_ == MergeMode::Mul) {
      y_forward_ = std::move(yf);
      y_backward_ = std::move(yb);
    }
    output_ = shape;
    cached_ = true;
  }
  return y;
}

Tensor Bidirectional::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), cached_);
  detail::check_gradient_shape(who(), output_, dy);
  Shape inner = output_;
  inner.back() = units_;
  const int64_t rows = dy.size() / output_.back(), units = units_;
  Tensor dyf, dyb;
  switch (merge_mode_) {
    case MergeMode::Concat:
      dyf = Tensor::uninitialized(inner);
      dyb = Tensor::uninitialized(inner);
      for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(dy.data() + 2 * r * units, units, dyf.data() + r * units);
        std::copy_n(dy.data() + (2 * r + 1) * units, units, dyb.data() + r * units);
      }
      break;
    case MergeMode::Sum:
      dyf = dy;
      dyb = dy;
      break;
    case MergeMode::Mul:
      dyf = Tensor::uninitialized(inner);
      dyb = Tensor::uninitialized(inner);
      mul(dy.size(), dy.data(), y_backward_.data(), dyf.data());
      mul(dy.size(), dy.data(), y_forward_.data(), dyb.data());
      break;
    case MergeMode::Ave:
      dyf = dy;
      scale(dyf.size(), 0.5f, dyf.data());
      dyb = dyf;
      break;
  }
  // Back to the backward layer's processed order.
  if (return_sequences_) dyb = reverse_steps(dyb);

  // Layer::set_input_gradient_needed is not virtual: pass the flag on here, where it is read.
  forward_->set_input_gradient_needed(input_gradient_needed_);
  backward_->set_input_gradient_needed(input_gradient_needed_);
  Tensor dx, dxb;
  // Both inner layers return dx in input order (go_backwards reverses it back).
  run_both([&] { dx = forward_->backward(dyf); }, [&] { dxb = backward_->backward(dyb); });
  if (!input_gradient_needed_) return Tensor();
  axpy(dx.size(), 1.0f, dxb.data(), dx.data());
  return dx;
}

std::vector<Param*> Bidirectional::params() {
  std::vector<Param*> out = forward_->params();
  for (Param* p : backward_->params()) out.push_back(p);
  return out;
}

std::vector<Rng*> Bidirectional::rngs() {
  std::vector<Rng*> out = forward_->rngs();
  for (Rng* r : backward_->rngs()) out.push_back(r);
  return out;
}

nlohmann::json Bidirectional::config() const {
  return {{"type", "Bidirectional"},
          {"merge_mode", options_.merge_mode},
          {"layer", forward_->config()}};
}

Tensor Bidirectional::propagate_mask(const Tensor& x, Tensor mask) {
  if (mask.empty()) return mask;
  for (Layer* direction : {forward_.get(), backward_.get()}) {
    if (auto* recurrent = dynamic_cast<Recurrent*>(direction)) {
      recurrent->set_zero_output_for_mask(return_sequences_);
    }
    direction->propagate_mask(x, mask);
  }
  return return_sequences_ ? mask : Tensor();
}

}  // namespace nnkit
