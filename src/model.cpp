#include "nnkit/model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/kernels/threads.h"
#include "nnkit/layers/recurrent.h"
#include "nnkit/layers/registry.h"

namespace nnkit {

int History::epochs() const {
  return values.empty() ? 0 : static_cast<int>(values.begin()->second.size());
}

const std::vector<double>& History::operator[](const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) throw ValueError(fmt::format("History has no '{}'", name));
  return it->second;
}

Sequential::Sequential(SequentialOptions options)
    : options_(std::move(options)), rng_(options_.seed) {}
Sequential::Sequential(Sequential&&) noexcept = default;
Sequential& Sequential::operator=(Sequential&&) noexcept = default;
Sequential::~Sequential() = default;

Sequential& Sequential::add(std::unique_ptr<Layer> layer) {
  if (!layer) throw ValueError("Sequential::add: null layer");
  if (auto* recurrent = dynamic_cast<Recurrent*>(layer.get());
      recurrent != nullptr && recurrent->recurrent_args().return_state) {
    throw ValueError(fmt::format(
        "layer {} ({}): return_state gives the output and the final states, several tensors, "
        "and a Sequential passes one tensor from layer to layer; leave it false (in C++, "
        "final_state() reads the states after any forward)",
        layers_.size(), layer->type()));
  }
  // With a known input shape each layer is built as it is added (as Keras does after an
  // Input), so summary() and set_weights() work before any data is seen.
  if (!options_.input_shape.empty()) {
    Shape input = layers_.empty() ? options_.input_shape : layers_.back()->output_shape();
    try {
      layer->build(input, rng_);
    } catch (const Error& e) {
      throw ShapeError(fmt::format("layer {} ({}): {}", layers_.size(), layer->type(), e.what()));
    }
    built_ = true;
  }
  if (layers_.empty()) layer->set_input_gradient_needed(false);
  layers_.push_back(std::move(layer));
  return *this;
}

void Sequential::build(const Shape& input_shape) {
  if (layers_.empty()) throw ValueError("Sequential: the model has no layers");
  if (built_) {
    if (input_shape != options_.input_shape) {
      throw ShapeError(fmt::format("Sequential: built for inputs of shape {}, not {}",
                                   shape_to_string(options_.input_shape),
                                   shape_to_string(input_shape)));
    }
    return;
  }
  Shape shape = input_shape;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    try {
      shape = layers_[i]->build(shape, rng_);
    } catch (const Error& e) {
      throw ShapeError(fmt::format("layer {} ({}): {}", i, layers_[i]->type(), e.what()));
    }
  }
  options_.input_shape = input_shape;
  built_ = true;
}

Shape Sequential::output_shape() const {
  return layers_.empty() ? Shape{} : layers_.back()->output_shape();
}

void Sequential::compile(std::unique_ptr<Optimizer> optimizer, std::unique_ptr<Loss> loss,
                         std::vector<std::string> metrics) {
  if (!optimizer || !loss) throw ValueError("Sequential::compile: optimizer and loss are required");
  optimizer_ = std::move(optimizer);
  loss_ = std::move(loss);
  metric_names_ = std::move(metrics);
  // Resolve names now so a typo fails at compile time, not after the first epoch.
  make_metrics();
}

std::vector<std::unique_ptr<Metric>> Sequential::make_metrics() const {
  std::vector<std::unique_ptr<Metric>> out;
  int64_t features = 1;
  if (built_ && !output_shape().empty()) features = output_shape().back();
  for (const auto& name : metric_names_) out.push_back(make_metric(name, loss_->name(), features));
  return out;
}

void Sequential::check_compiled(const char* who) const {
  if (!compiled()) throw ValueError(fmt::format("Sequential::{}: call compile() first", who));
}

void Sequential::check_data(const char* who, const Tensor& x, const Tensor* y) const {
  if (x.rank() < 1 || x.dim(0) == 0) {
    throw ShapeError(
        fmt::format("{}: x has no samples (shape {})", who, shape_to_string(x.shape())));
  }
  Shape sample(x.shape().begin() + 1, x.shape().end());
  if (built_ && sample != options_.input_shape) {
    Shape expected = options_.input_shape;
    throw ShapeError(fmt::format(
        "{}: the model takes samples of shape {}, x has samples of shape {} (x is {})", who,
        shape_to_string(expected), shape_to_string(sample), shape_to_string(x.shape())));
  }
  if (y != nullptr && (y->rank() < 1 || y->dim(0) != x.dim(0))) {
    throw ShapeError(fmt::format("{}: x has {} samples but y has shape {}", who, x.dim(0),
                                 shape_to_string(y->shape())));
  }
  // Sparse labels are checked by their loss; every other loss compares like with like.
  if (y != nullptr && built_ && loss_ && loss_->name() != "sparse_categorical_crossentropy") {
    Shape target(y->shape().begin() + 1, y->shape().end());
    if (target != output_shape()) {
      throw ShapeError(fmt::format(
          "{}: the model outputs samples of shape {}, y has samples of shape {}{}", who,
          shape_to_string(output_shape()), shape_to_string(target), time_axis_hint(target)));
    }
  }
  for (float v : x) {
    if (!std::isfinite(v))
      throw ValueError(fmt::format("{}: x contains NaN or infinite values", who));
  }
}

Tensor Sequential::forward(const Tensor& x, Mode mode) {
  if (!built_) build(Shape(x.shape().begin() + 1, x.shape().end()));
  Tensor mask;  // [N, T] from a Masking layer, while the data keeps its steps
  mask = layers_.front()->propagate_mask(x, std::move(mask));
  Tensor h = layers_.front()->forward(x, mode);
  for (std::size_t i = 1; i < layers_.size(); ++i) {
    mask = layers_[i]->propagate_mask(h, std::move(mask));
    h = layers_[i]->forward(h, mode);
  }
  return h;
}

namespace {

// x[:, begin:end] of a tensor [N, T, ...].
Tensor slice_steps(const Tensor& x, int64_t begin, int64_t end) {
  Shape shape = x.shape();
  const int64_t batch = shape[0], steps = shape[1], width = x.size() / (batch * steps);
  shape[1] = end - begin;
  Tensor out = Tensor::uninitialized(shape);
  for (int64_t n = 0; n < batch; ++n) {
    std::copy_n(x.data() + (n * steps + begin) * width, (end - begin) * width,
                out.data() + n * (end - begin) * width);
  }
  return out;
}

// out[:, begin:begin + T'] = part for out [N, T, ...] and part [N, T', ...].
void put_steps(const Tensor& part, int64_t begin, Tensor& out) {
  const int64_t batch = out.dim(0), steps = out.dim(1), width = out.size() / (batch * steps);
  const int64_t count = part.dim(1);
  for (int64_t n = 0; n < batch; ++n) {
    std::copy_n(part.data() + n * count * width, count * width,
                out.data() + (n * steps + begin) * width);
  }
}

}  // namespace

double Sequential::train_on_batch_truncated(const Tensor& x, const Tensor& y, int64_t chunk,
                                            Tensor* pred) {
  check_compiled("train_on_batch_truncated");
  if (chunk < 1) throw ValueError(fmt::format("tbptt_steps must be >= 1, got {}", chunk));
  if (x.rank() < 3) {
    throw ShapeError(fmt::format("tbptt_steps: expected sequences [N, T, F], got x of shape {}",
                                 shape_to_string(x.shape())));
  }
  const int64_t steps = x.dim(1);
  if (chunk >= steps) return train_on_batch(x, y, pred);
  std::vector<Recurrent*> recurrent;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto* r = dynamic_cast<Recurrent*>(layers_[i].get());
    if (layers_[i]->type() == "Bidirectional" ||
        (r != nullptr && r->recurrent_args().go_backwards)) {
      throw ValueError(fmt::format(
          "tbptt_steps: layer {} ({}) reads the sequence from its end; truncated BPTT carries the "
          "state forward in time, so it needs layers that read the sequence in order",
          i, layers_[i]->type()));
    }
    if (r != nullptr) recurrent.push_back(r);
  }
  // Per-step targets when the model's output keeps the steps and y has them.
  const Shape out_shape = output_shape();
  const bool per_step = !out_shape.empty() && out_shape[0] == steps && y.rank() >= 3 &&
                        y.dim(1) == steps && recurrent.size() > 0 &&
                        recurrent.back()->recurrent_args().return_sequences;
  double loss_sum = 0.0;
  Tensor full_pred;
  std::vector<std::vector<Tensor>> state(recurrent.size());
  for (int64_t begin = 0; begin < steps; begin += chunk) {
    const int64_t end = std::min(steps, begin + chunk);
    if (begin > 0) {
      // The state values only: the next chunk's backward stops at its initial state.
      for (std::size_t r = 0; r < recurrent.size(); ++r) recurrent[r]->set_initial_state(state[r]);
    }
    Tensor xc = slice_steps(x, begin, end);
    if (per_step || end == steps) {
      Tensor out;
      const double loss = train_on_batch(xc, per_step ? slice_steps(y, begin, end) : y, &out);
      if (per_step) {
        loss_sum += loss * static_cast<double>(end - begin) / static_cast<double>(steps);
        if (pred != nullptr) {
          if (full_pred.empty()) {
            Shape shape = out.shape();
            shape[1] = steps;
            full_pred = Tensor::uninitialized(shape);
          }
          put_steps(out, begin, full_pred);
        }
      } else {
        loss_sum = loss;
        full_pred = std::move(out);
      }
    } else {
      forward(xc, Mode::Train);
    }
    for (std::size_t r = 0; r < recurrent.size(); ++r) state[r] = recurrent[r]->final_state();
  }
  if (pred != nullptr) *pred = std::move(full_pred);
  return loss_sum;
}

Tensor Sequential::predict_step(const Tensor& x_t) {
  if (!built_) {
    throw ValueError(
        "predict_step: the model is not built; give it an input_shape (or call predict once)");
  }
  if (x_t.rank() != 2 || options_.input_shape.size() != 2 ||
      x_t.dim(1) != options_.input_shape[1]) {
    throw ShapeError(fmt::format(
        "predict_step: expected one time step [batch, features] of a model of sequences {}, "
        "got {}",
        shape_to_string(options_.input_shape), shape_to_string(x_t.shape())));
  }
  Tensor h = x_t;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    if (auto* r = dynamic_cast<Recurrent*>(&layer)) {
      h = r->step(h);
    } else if (layer.type() == "Masking") {
      continue;  // one real reading at a time: nothing to mask
    } else if (layer.type() == "Bidirectional" || layer.type() == "Flatten" ||
               layer.type() == "Reshape") {
      throw ValueError(
          fmt::format("predict_step: layer {} ({}) needs the whole sequence at once; use predict()",
                      i, layer.type()));
    } else {
      h = layer.forward(h, Mode::Infer);
    }
  }
  return h;
}

void Sequential::reset_states() {
  for (auto& layer : layers_) layer->reset_states();
}

bool Sequential::stateful() const {
  return std::any_of(layers_.begin(), layers_.end(), [](const auto& l) { return l->stateful(); });
}

void Sequential::backward(const Tensor& pred, const Tensor& y) {
  Layer& last = *layers_.back();
  std::string activation = last.output_activation();
  Tensor grad = !activation.empty() && loss_->fuses_with(activation)
                    ? last.backward_preactivation(loss_->gradient_preactivation(pred, y))
                    : last.backward(loss_->gradient(pred, y));
  for (std::size_t i = layers_.size() - 1; i-- > 0;) grad = layers_[i]->backward(grad);
}

std::vector<Param*> Sequential::trainable_params() {
  std::vector<Param*> out;
  for (auto& layer : layers_)
    for (Param* p : layer->params())
      if (p->trainable) out.push_back(p);
  return out;
}

void Sequential::zero_grad() {
  for (auto& layer : layers_) layer->zero_grad();
}

double Sequential::train_on_batch(const Tensor& x, const Tensor& y, Tensor* pred) {
  check_compiled("train_on_batch");
  zero_grad();
  Tensor out = forward(x, Mode::Train);
  double loss = loss_->value(out, y);
  backward(out, y);
  optimizer_->step(trainable_params());
  if (pred != nullptr) *pred = std::move(out);
  return loss;
}

namespace {

// Calls adapt() on each layer that wants it with the training inputs x as they reach that
// layer: the layers before it run on x in inference mode, in batches, once per such layer.
void adapt_layers(std::vector<std::unique_ptr<Layer>>& layers, const Tensor& x, Rng& rng) {
  constexpr int64_t kBatch = 256;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (!layers[i]->wants_adapt()) continue;
    Tensor inputs;
    for (int64_t begin = 0; begin < x.dim(0); begin += kBatch) {
      Tensor h = x.slice_rows(begin, std::min(x.dim(0), begin + kBatch));
      for (std::size_t j = 0; j < i; ++j) h = layers[j]->forward(h, Mode::Infer);
      if (inputs.empty()) {
        Shape s = h.shape();
        s[0] = x.dim(0);
        inputs = Tensor::uninitialized(s);
      }
      std::copy(h.begin(), h.end(), inputs.data() + begin * (h.size() / h.dim(0)));
    }
    layers[i]->adapt(inputs, rng);
  }
}

}  // namespace

History Sequential::fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  check_compiled("fit");
  if (!built_ && x.rank() >= 1) build(Shape(x.shape().begin() + 1, x.shape().end()));
  check_data("fit", x, &y);
  if (options.epochs < 0)
    throw ValueError(fmt::format("fit: epochs must be >= 0, got {}", options.epochs));
  if (options.batch_size < 1) {
    throw ValueError(fmt::format("fit: batch_size must be >= 1, got {}", options.batch_size));
  }
  FlushDenormalsScope flush;  // late in training, denormals slow every kernel (threads.h)
  if (options.tbptt_steps < 0) {
    throw ValueError(
        fmt::format("fit: tbptt_steps must be >= 0 (0: full BPTT), got {}", options.tbptt_steps));
  }
  if (!(options.validation_split >= 0.0 && options.validation_split < 1.0)) {
    throw ValueError(
        fmt::format("fit: validation_split must be in [0, 1), got {}", options.validation_split));
  }

  // Validation data: given, or the last part of x and y (before any shuffling, as Keras).
  int64_t samples = x.dim(0);
  std::optional<std::pair<Tensor, Tensor>> validation = options.validation_data;
  Tensor train_x, train_y;
  const Tensor* tx = &x;
  const Tensor* ty = &y;
  if (options.validation_split > 0.0 && !validation) {
    int64_t val = static_cast<int64_t>(static_cast<double>(samples) * options.validation_split);
    if (val == 0 || val == samples) {
      throw ValueError(
          fmt::format("fit: validation_split {} of {} samples leaves {} for validation",
                      options.validation_split, samples, val));
    }
    samples -= val;
    train_x = x.slice_rows(0, samples);
    train_y = y.slice_rows(0, samples);
    validation.emplace(x.slice_rows(samples, x.dim(0)), y.slice_rows(samples, y.dim(0)));
    tx = &train_x;
    ty = &train_y;
  }
  if (validation) check_data("fit (validation data)", validation->first, &validation->second);

  int64_t batch_size = std::min(options.batch_size, samples);
  int64_t steps = (samples + batch_size - 1) / batch_size;
  // Keras validates in batches of the training's size; stateful layers need exactly that, so
  // the batch size must divide both the training and the validation samples.
  const int64_t validation_batch = stateful() ? batch_size : kInferenceBatch;
  const int64_t validation_samples = validation ? validation->first.dim(0) : 0;
  check_stateful_batches("fit", samples, batch_size, validation_samples);
  if (validation_samples > 0) {
    check_stateful_batches("fit (validation data)", validation_samples, validation_batch, samples);
  }
  const FitPosition start = options.resume.value_or(FitPosition{});
  if (options.resume) {
    if (start.epoch < 0 || start.step < 0 || start.step > steps || start.seen < 0) {
      throw ValueError(fmt::format(
          "fit: cannot resume at epoch {}, batch {}: an epoch has {} batches of {} samples",
          start.epoch, start.step, steps, batch_size));
    }
  }

  // Data-dependent initialisation (Layer::adapt), before anything is saved or trained.
  if (!options.resume) adapt_layers(layers_, *tx, rng_);

  std::vector<std::shared_ptr<Callback>> callbacks;
  if (options.verbose > 0) {
    ProgressBarOptions bar;
    if (options.verbose == 2) bar.interactive = false;
    callbacks.push_back(std::make_shared<ProgressBar>(bar));
  }
  callbacks.insert(callbacks.end(), options.callbacks.begin(), options.callbacks.end());

  History history;
  history.names.push_back("loss");
  for (const auto& m : metric_names_) history.names.push_back(m);
  if (validation) {
    std::size_t n = history.names.size();
    for (std::size_t i = 0; i < n; ++i) history.names.push_back("val_" + history.names[i]);
  }
  for (const auto& name : history.names) history.values[name];

  TrainInfo info{options.epochs, steps, samples, history.names};
  stop_training = false;
  for (auto& cb : callbacks) cb->on_train_begin(*this, info);

  std::vector<int64_t> order(static_cast<std::size_t>(samples));
  Logs logs;
  auto metrics = make_metrics();
  for (int epoch = start.epoch; epoch < options.epochs && !stop_training; ++epoch) {
    const bool resumed = options.resume && epoch == start.epoch;
    if (resumed && start.step > 0) rng_.set_state(start.epoch_rng);
    position_ = FitPosition{.epoch = epoch, .epoch_rng = rng_.state()};
    for (auto& cb : callbacks) cb->on_epoch_begin(*this, epoch);
    // Each epoch's order is drawn afresh from the identity (Fisher-Yates with the model's
    // generator): a seed fixes it, and the generator's state at the epoch's start is all a
    // checkpoint needs to draw it again.
    std::iota(order.begin(), order.end(), 0);
    if (options.shuffle) {
      for (int64_t i = samples - 1; i > 0; --i) {
        std::swap(order[i], order[rng_.below(static_cast<uint64_t>(i + 1))]);
      }
    }
    for (auto& m : metrics) m->reset();
    double loss_sum = resumed ? start.loss_sum : 0.0;
    int64_t seen = resumed ? start.seen : 0;
    logs.clear();
    for (int64_t step = resumed ? start.step : 0; step < steps && !stop_training; ++step) {
      int64_t begin = step * batch_size;
      int64_t count = std::min(batch_size, samples - begin);
      Tensor bx = tx->gather_rows(order.data() + begin, count);
      Tensor by = ty->gather_rows(order.data() + begin, count);
      Tensor pred;
      double loss = options.tbptt_steps > 0
                        ? train_on_batch_truncated(bx, by, options.tbptt_steps, &pred)
                        : train_on_batch(bx, by, &pred);
      loss_sum += loss * static_cast<double>(count);
      seen += count;
      position_.step = step + 1;
      position_.loss_sum = loss_sum;
      position_.seen = seen;
      for (auto& m : metrics) m->update(pred, by);
      logs["loss"] = loss_sum / static_cast<double>(seen);
      for (auto& m : metrics) logs[m->name()] = m->result();
      if (!std::isfinite(loss)) logs["loss"] = loss;
      for (auto& cb : callbacks) cb->on_batch_end(*this, step, logs);
    }
    // A run resumed after its epoch's last batch has the loss from the checkpoint alone.
    if (seen > 0 && !logs.count("loss")) logs["loss"] = loss_sum / static_cast<double>(seen);
    if (validation) {
      for (const auto& [name, value] :
           evaluate(validation->first, validation->second, validation_batch)) {
        logs["val_" + name] = value;
      }
    }
    for (const auto& name : history.names) {
      auto it = logs.find(name);
      history.values[name].push_back(it == logs.end() ? NAN : it->second);
    }
    if (position_.step == steps)
      position_ = FitPosition{.epoch = epoch + 1, .epoch_rng = rng_.state()};
    for (auto& cb : callbacks) cb->on_epoch_end(*this, epoch, logs);
  }
  for (auto& cb : callbacks) cb->on_train_end(*this, logs);
  return history;
}

namespace {

// "a or b": the divisors of n nearest to b, below and above it.
std::string divisors_near(int64_t n, int64_t b) {
  int64_t below = std::min(b, n), above = b;
  while (n % below != 0) --below;
  while (above < n && n % above != 0) ++above;
  return above < n && above != below ? fmt::format("{} or {}", below, above)
                                     : fmt::format("{}", below);
}

}  // namespace

std::string Sequential::time_axis_hint(const Shape& target) const {
  const Shape out = output_shape();
  if (out.size() != target.size() + 1 || !std::equal(target.begin(), target.end(), out.begin() + 1))
    return "";
  // The last layer that can return sequences (Bidirectional: its inner layer's setting).
  for (std::size_t i = layers_.size(); i-- > 0;) {
    nlohmann::json config = layers_[i]->config();
    if (config.contains("layer")) config = config["layer"];
    if (!config.contains("return_sequences")) continue;
    if (!config["return_sequences"].get<bool>()) return "";
    return fmt::format(
        "; layer {} ({}) returns every step (return_sequences true): set it to false for one "
        "output per sequence",
        i, layers_[i]->type());
  }
  return "";
}

void Sequential::check_stateful_batches(const char* who, int64_t samples, int64_t batch_size,
                                        int64_t other_samples) const {
  if (samples % batch_size == 0 || (other_samples == 0 && samples < batch_size)) return;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (!layers_[i]->stateful()) continue;
    const int64_t divide = other_samples > 0 ? std::gcd(samples, other_samples) : samples;
    throw ValueError(fmt::format(
        "{}: layer {} ({}) is stateful: sample i of each batch continues sample i of the one "
        "before, so every batch needs the same size, and {} samples in batches of {} leave a "
        "last one of {}; use a batch size that divides {}, such as {}",
        who, i, layers_[i]->type(), samples, batch_size, samples % batch_size,
        other_samples > 0 ? fmt::format("both {} and {}", samples, other_samples)
                          : fmt::format("{}", samples),
        divisors_near(divide, batch_size)));
  }
}

std::map<std::string, double> Sequential::evaluate(const Tensor& x, const Tensor& y,
                                                   int64_t batch_size) {
  check_compiled("evaluate");
  if (!built_ && x.rank() >= 1) build(Shape(x.shape().begin() + 1, x.shape().end()));
  check_data("evaluate", x, &y);
  if (batch_size < 1) throw ValueError("evaluate: batch_size must be >= 1");
  check_stateful_batches("evaluate", x.dim(0), batch_size);
  auto metrics = make_metrics();
  double loss_sum = 0;
  int64_t samples = x.dim(0);
  for (int64_t begin = 0; begin < samples; begin += batch_size) {
    int64_t end = std::min(samples, begin + batch_size);
    Tensor by = y.slice_rows(begin, end);
    Tensor pred = forward(x.slice_rows(begin, end), Mode::Infer);
    loss_sum += loss_->value(pred, by) * static_cast<double>(end - begin);
    for (auto& m : metrics) m->update(pred, by);
  }
  std::map<std::string, double> out{{"loss", loss_sum / static_cast<double>(samples)}};
  for (auto& m : metrics) out[m->name()] = m->result();
  return out;
}

Tensor Sequential::predict(const Tensor& x, int64_t batch_size) {
  check_data("predict", x, nullptr);
  if (batch_size < 1) throw ValueError("predict: batch_size must be >= 1");
  int64_t samples = x.dim(0);
  check_stateful_batches("predict", samples, batch_size);
  if (samples <= batch_size) return forward(x, Mode::Infer);
  Tensor out;
  for (int64_t begin = 0; begin < samples; begin += batch_size) {
    int64_t end = std::min(samples, begin + batch_size);
    Tensor part = forward(x.slice_rows(begin, end), Mode::Infer);
    if (out.empty()) {
      Shape s = part.shape();
      s[0] = samples;
      out = Tensor::uninitialized(s);
    }
    std::copy(part.begin(), part.end(), out.data() + begin * (part.size() / (end - begin)));
  }
  return out;
}

std::vector<std::pair<std::string, Param*>> Sequential::named_params() {
  std::vector<std::pair<std::string, Param*>> out;
  for (std::size_t i = 0; i < layers_.size(); ++i)
    for (Param* p : layers_[i]->params())
      out.emplace_back(fmt::format("layers.{}.{}", i, p->name), p);
  return out;
}

std::vector<Rng*> Sequential::rngs() {
  std::vector<Rng*> out{&rng_};
  for (auto& layer : layers_)
    for (Rng* r : layer->rngs()) out.push_back(r);
  return out;
}

std::vector<Tensor> Sequential::get_weights() {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_params()) out.push_back(p->value);
  return out;
}

void Sequential::set_weights(const std::vector<Tensor>& weights) {
  auto params = named_params();
  if (weights.size() != params.size()) {
    throw ValueError(fmt::format("set_weights: the model has {} tensors, {} given", params.size(),
                                 weights.size()));
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (weights[i].shape() != params[i].second->value.shape()) {
      throw ShapeError(fmt::format("set_weights: {} has shape {}, given {}", params[i].first,
                                   shape_to_string(params[i].second->value.shape()),
                                   shape_to_string(weights[i].shape())));
    }
    params[i].second->value = weights[i];
  }
}

std::string Sequential::summary() const {
  std::string out;
  std::string rule(72, '_');
  std::string thick(72, '=');
  out += "Model: \"sequential\"\n" + rule + "\n";
  out += fmt::format("{:<34}{:<24}{:>14}\n", "Layer (type)", "Output Shape", "Param #");
  out += thick + "\n";
  int64_t total = 0, trainable = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = *layers_[i];
    std::string shape = "?";
    if (built_) {
      shape = "(None";
      for (int64_t d : l.output_shape()) shape += fmt::format(", {}", d);
      shape += ")";
    }
    int64_t n = l.param_count();
    total += n;
    trainable += l.param_count(true);
    std::string name = fmt::format("{} ({})", fmt::format("layers.{}", i), l.type());
    out += fmt::format("{:<34}{:<24}{:>14}\n", name, shape, n);
    out += (i + 1 < layers_.size() ? rule : thick) + "\n";
  }
  out += fmt::format("Total params: {}\nTrainable params: {}\nNon-trainable params: {}\n", total,
                     trainable, total - trainable);
  return out;
}

nlohmann::json Sequential::spec() const {
  nlohmann::json s;
  if (!options_.input_shape.empty()) s["input_shape"] = options_.input_shape;
  s["layers"] = nlohmann::json::array();
  for (const auto& l : layers_) s["layers"].push_back(l->config());
  if (loss_) s["loss"] = loss_->config();
  if (optimizer_) s["optimizer"] = optimizer_->config();
  if (!metric_names_.empty()) s["metrics"] = metric_names_;
  s["seed"] = options_.seed;
  if (options_.target_is_input) s["target"] = "input";
  return s;
}

Sequential Sequential::from_spec(const nlohmann::json& spec) {
  if (!spec.is_object()) throw ValueError("model spec: expected a JSON object");
  static const char* const kKeys[] = {"input_shape", "layers", "loss",  "optimizer",
                                      "metrics",     "seed",   "target"};
  for (const auto& [key, value] : spec.items()) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
      throw ValueError(
          fmt::format("model spec: unknown key '{}'; expected input_shape, layers, loss, "
                      "optimizer, metrics, seed, target",
                      key));
    }
  }
  SequentialOptions options;
  try {
    if (spec.contains("seed")) options.seed = spec.at("seed").get<uint64_t>();
    if (spec.contains("input_shape")) options.input_shape = spec.at("input_shape").get<Shape>();
  } catch (const nlohmann::json::exception&) {
    throw ValueError(
        "model spec: 'seed' must be a non-negative integer and 'input_shape' a list of integers");
  }
  // A key of its own rather than an argument of the loss: it says where the targets come from,
  // not how the loss is computed, so every loss takes it alike, and "loss": "mse" stays a name.
  if (spec.contains("target")) {
    const nlohmann::json& target = spec.at("target");
    if (!target.is_string() || target.get<std::string>() != "input") {
      throw ValueError(fmt::format(
          "model spec: 'target' must be \"input\" (an autoencoder, whose loss compares the "
          "output with the input), got {}",
          target.dump()));
    }
    options.target_is_input = true;
  }
  for (int64_t d : options.input_shape) {
    if (d <= 0)
      throw ValueError(fmt::format("model spec: input_shape {} has a dimension <= 0",
                                   shape_to_string(options.input_shape)));
  }
  if (!spec.contains("layers") || !spec.at("layers").is_array() || spec.at("layers").empty()) {
    throw ValueError("model spec: 'layers' must be a non-empty list of layer objects");
  }
  Sequential model(options);
  const auto& layers = spec.at("layers");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    try {
      model.add(make_layer(layers[i]));
    } catch (const Error& e) {
      throw ValueError(fmt::format("model spec: layers[{}]: {}", i, e.what()));
    }
  }
  if (spec.contains("loss")) {
    std::vector<std::string> metrics;
    if (spec.contains("metrics")) {
      if (!spec.at("metrics").is_array())
        throw ValueError("model spec: 'metrics' must be a list of names");
      for (const auto& m : spec.at("metrics")) {
        if (!m.is_string()) throw ValueError("model spec: 'metrics' must be a list of names");
        metrics.push_back(m.get<std::string>());
      }
    }
    model.compile(make_optimizer(spec.value("optimizer", nlohmann::json("adam"))),
                  make_loss(spec.at("loss")), metrics);
  }
  return model;
}

}  // namespace nnkit
