#include "nnkit/layers/recurrent.h"

#include <algorithm>
#include <utility>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"
#include "sequence_layout.h"
#include "spec_reader.h"

namespace nnkit {

Recurrent::Recurrent(std::string type_name, RecurrentArgs args)
    : type_name_(std::move(type_name)), args_(args) {
  if (args_.units <= 0) {
    throw ValueError(fmt::format("{}: units must be positive, got {}", type_name_, args_.units));
  }
  if (!(args_.dropout >= 0.0f && args_.dropout < 1.0f)) {
    throw ValueError(fmt::format("{}: dropout must be in [0, 1), got {}", who(), args_.dropout));
  }
}

std::string Recurrent::who() const { return fmt::format("{}(units={})", type_name_, args_.units); }

RecurrentArgs Recurrent::read_args(detail::SpecReader& args) {
  RecurrentArgs r;
  args.require("units");
  r.units = args.get_int("units", 0);
  r.return_sequences = args.get_bool("return_sequences", r.return_sequences);
  r.return_state = args.get_bool("return_state", r.return_state);
  r.go_backwards = args.get_bool("go_backwards", r.go_backwards);
  r.stateful = args.get_bool("stateful", r.stateful);
  r.dropout = args.get_float("dropout", r.dropout);
  return r;
}

void Recurrent::write_args(nlohmann::json& config) const {
  config["units"] = args_.units;
  config["return_sequences"] = args_.return_sequences;
  config["return_state"] = args_.return_state;
  config["go_backwards"] = args_.go_backwards;
  config["stateful"] = args_.stateful;
  config["dropout"] = detail::json_float(args_.dropout);
}

Shape Recurrent::build(const Shape& input, Rng& rng) {
  detail::check_sequence_shape(who(), input);
  steps_ = input[0];
  features_ = input[1];
  build_cell(features_, rng);
  // Only with dropout, so that models without it draw the same weights as before it existed.
  if (args_.dropout > 0.0f) dropout_rng_ = rng.split();
  carried_state_.clear();
  stream_state_.clear();
  input_shape_ = input;
  output_shape_ = args_.return_sequences ? Shape{steps_, args_.units} : Shape{args_.units};
  return output_shape_;
}

void Recurrent::set_initial_state(std::vector<Tensor> state) {
  if (static_cast<int>(state.size()) != state_count()) {
    throw ShapeError(fmt::format("{}: expected {} initial state tensor{} ({}), got {}", who(),
                                 state_count(), state_count() == 1 ? "" : "s",
                                 state_count() == 1 ? "h" : "h and c", state.size()));
  }
  initial_state_ = std::move(state);
}

void Recurrent::set_final_state_gradient(std::vector<Tensor> dstate) {
  if (static_cast<int>(dstate.size()) != state_count()) {
    throw ShapeError(fmt::format("{}: expected {} final state gradient{}, got {}", who(),
                                 state_count(), state_count() == 1 ? "" : "s", dstate.size()));
  }
  final_state_grad_ = std::move(dstate);
}

void Recurrent::set_mask(Tensor mask) {
  if (mask.rank() != 2) {
    throw ShapeError(fmt::format("{}: expected a mask [batch, steps], got {}", who(),
                                 shape_to_string(mask.shape())));
  }
  for (float m : mask) {
    if (m != 0.0f && m != 1.0f) {
      throw ValueError(fmt::format("{}: a mask holds 1 (data) or 0 (padding), got {}", who(), m));
    }
  }
  mask_ = std::move(mask);
}

Tensor Recurrent::propagate_mask(const Tensor& /*x*/, Tensor mask) {
  if (mask.empty()) return mask;
  set_mask(mask);
  if (!args_.return_sequences) return Tensor();
  if (!args_.go_backwards) return mask;
  Tensor reversed = Tensor::uninitialized(mask.shape());
  const int64_t batch = mask.dim(0), steps = mask.dim(1);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t t = 0; t < steps; ++t) reversed[n * steps + t] = mask[n * steps + steps - 1 - t];
  }
  return reversed;
}

void Recurrent::reset_states() {
  carried_state_.clear();
  stream_state_.clear();
}

std::vector<Tensor> Recurrent::resolve_initial_state(int64_t batch) {
  std::vector<Tensor> state = std::move(initial_state_);
  initial_state_.clear();
  const char* source = "initial state";
  if (state.empty() && args_.stateful && !carried_state_.empty()) {
    if (carried_state_[0].dim(0) != batch) {
      throw ShapeError(fmt::format(
          "{}: stateful, and the batch size changed from {} to {}; sample i of a batch "
          "continues sample i of the previous one, so keep the batch size (one that divides the "
          "samples) or call reset_states()",
          who(), carried_state_[0].dim(0), batch));
    }
    state = carried_state_;
    source = "carried state";
  }
  if (state.empty()) {
    state.assign(state_count(), Tensor({batch, args_.units}));
    return state;
  }
  for (const Tensor& s : state) {
    if (s.shape() != Shape{batch, args_.units}) {
      throw ShapeError(fmt::format("{}: expected each {} to be [{}, {}] (batch, units), got {}",
                                   who(), source, batch, args_.units, shape_to_string(s.shape())));
    }
  }
  return state;
}

Tensor Recurrent::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), features_ > 0);
  detail::check_sequence_input(who(), features_, x);
  const int64_t batch = x.dim(0), steps = x.dim(1);
  Tensor mask = std::move(mask_);
  mask_ = Tensor();
  std::vector<Tensor> initial = resolve_initial_state(batch);

  masked_ = !mask.empty();
  if (masked_) {
    if (mask.shape() != Shape{batch, steps}) {
      throw ShapeError(
          fmt::format("{}: expected a mask [{}, {}] (batch, steps) for input {}, got {}", who(),
                      batch, steps, shape_to_string(x.shape()), shape_to_string(mask.shape())));
    }
    // [N, T] -> [T, N] in processed order: one step's mask is then contiguous.
    detail::ensure_shape(step_mask_, {steps, batch});
    detail::to_time_major(batch, steps, 1, args_.go_backwards, mask.data(), step_mask_.data());
  }

  const bool drop = mode == Mode::Train && args_.dropout > 0.0f;
  dropout_mask_ = Tensor();
  Tensor dropped;
  if (drop) {
    const float keep_scale = 1.0f / (1.0f - args_.dropout);
    dropout_mask_ = Tensor::uninitialized({batch, features_});
    for (float& m : dropout_mask_) m = dropout_rng_.uniform() < args_.dropout ? 0.0f : keep_scale;
    dropped = Tensor::uninitialized(x.shape());
    for (int64_t n = 0; n < batch; ++n) {
      const float* m = dropout_mask_.data() + n * features_;
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t at = (n * steps + t) * features_;
        for (int64_t f = 0; f < features_; ++f) dropped[at + f] = x[at + f] * m[f];
      }
    }
  }

  Tensor y =
      forward_sequence(drop ? dropped : x, initial, masked_ ? step_mask_.data() : nullptr, mode);
  if (masked_ && zero_output_for_mask_ && args_.return_sequences) {
    // y is in processed order, as step_mask_.
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t s = 0; s < steps; ++s) {
        if (step_mask_[s * batch + n] == 0.0f) {
          std::fill_n(y.data() + (n * steps + s) * args_.units, args_.units, 0.0f);
        }
      }
    }
  }
  if (args_.stateful) carried_state_ = final_state_;
  return y;
}

Tensor Recurrent::backward(const Tensor& dy) {
  std::vector<Tensor> dfinal = std::move(final_state_grad_);
  final_state_grad_.clear();
  // The layers read dfinal as [N, H] each: a wrong shape must not reach them.
  for (std::size_t i = 0; i < dfinal.size(); ++i) {
    if (i >= final_state_.size() || dfinal[i].shape() != final_state_[i].shape()) {
      throw ShapeError(fmt::format(
          "{}: expected each final state gradient to be {} (batch, units) as the final state, "
          "got {}",
          who(), final_state_.empty() ? "[N, units]" : shape_to_string(final_state_[0].shape()),
          shape_to_string(dfinal[i].shape())));
    }
  }
  Tensor dx;
  // Only when dy has the cached output's shape: step_mask_ is indexed with dy's dimensions (a
  // wrong dy is the cell's to report).
  if (masked_ && zero_output_for_mask_ && args_.return_sequences &&
      dy.shape() == Shape{step_mask_.dim(1), step_mask_.dim(0), args_.units}) {
    // Zeroed outputs depend on nothing: their gradient stops here.
    Tensor dy_kept = dy;
    const int64_t batch = dy.dim(0), steps = dy.dim(1);
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t s = 0; s < steps; ++s) {
        if (step_mask_[s * batch + n] == 0.0f) {
          std::fill_n(dy_kept.data() + (n * steps + s) * args_.units, args_.units, 0.0f);
        }
      }
    }
    dx = backward_sequence(dy_kept, dfinal);
  } else {
    dx = backward_sequence(dy, dfinal);
  }
  if (!dropout_mask_.empty() && !dx.empty()) {
    const int64_t batch = dx.dim(0), steps = dx.dim(1);
    for (int64_t n = 0; n < batch; ++n) {
      const float* m = dropout_mask_.data() + n * features_;
      for (int64_t t = 0; t < steps; ++t) {
        float* d = dx.data() + (n * steps + t) * features_;
        for (int64_t f = 0; f < features_; ++f) d[f] *= m[f];
      }
    }
  }
  return dx;
}

void Recurrent::check_step_input(const Tensor& x_t) const {
  // who() formats a string: only on the error path, a streaming step takes about 2 µs.
  if (features_ <= 0) detail::check_built(who(), false);
  if (args_.go_backwards) {
    throw ValueError(fmt::format(
        "{}: step() streams the steps in order, and go_backwards reads a sequence last step "
        "first; call forward() on the whole sequence",
        who()));
  }
  if (x_t.rank() != 2 || x_t.dim(1) != features_) {
    throw ShapeError(fmt::format("{}: step() takes one time step [batch, {}], got {}", who(),
                                 features_, shape_to_string(x_t.shape())));
  }
  const int64_t batch = x_t.dim(0);
  if (!stream_state_.empty() && stream_state_[0].dim(0) != batch) {
    throw ShapeError(fmt::format(
        "{}: step() carries the state of {} sequence(s), got a batch of {}; call reset_states() "
        "to start new sequences",
        who(), stream_state_[0].dim(0), batch));
  }
}

Tensor Recurrent::step(const Tensor& x_t) {
  check_step_input(x_t);
  const int64_t batch = x_t.dim(0);
  // The state is passed in place and the outputs assigned into existing storage, so that a
  // stream of steps allocates little more than each step's output.
  if (stream_state_.empty()) stream_state_.assign(state_count(), Tensor({batch, args_.units}));
  step_x_ = x_t;
  step_x_.reshape({batch, 1, features_});
  Tensor y = forward_sequence(step_x_, stream_state_, nullptr, Mode::Infer);
  stream_state_ = final_state_;
  return std::move(y).reshaped({batch, args_.units});
}

}  // namespace nnkit
