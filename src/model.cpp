#include "nnkit/model.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fmt/format.h"
#include "nnkit/error.h"
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
  // Keras's return_state gives a layer several outputs; a Sequential passes one tensor on.
  if (const auto* recurrent = dynamic_cast<const Recurrent*>(layer.get());
      recurrent != nullptr && recurrent->recurrent_args().return_state) {
    throw ValueError(fmt::format(
        "Sequential::add: {} has return_state = true, and a Sequential passes one tensor from "
        "layer to layer; leave it false (in C++, final_state() gives the states)",
        layer->type()));
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
      throw ShapeError(
          fmt::format("{}: the model outputs samples of shape {}, y has samples of shape {}", who,
                      shape_to_string(output_shape()), shape_to_string(target)));
    }
  }
  for (float v : x) {
    if (!std::isfinite(v))
      throw ValueError(fmt::format("{}: x contains NaN or infinite values", who));
  }
}

Tensor Sequential::forward(const Tensor& x, Mode mode) {
  if (!built_) build(Shape(x.shape().begin() + 1, x.shape().end()));
  Tensor h = layers_.front()->forward(x, mode);
  for (std::size_t i = 1; i < layers_.size(); ++i) h = layers_[i]->forward(h, mode);
  return h;
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

History Sequential::fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  check_compiled("fit");
  if (!built_ && x.rank() >= 1) build(Shape(x.shape().begin() + 1, x.shape().end()));
  check_data("fit", x, &y);
  if (options.epochs < 0)
    throw ValueError(fmt::format("fit: epochs must be >= 0, got {}", options.epochs));
  if (options.batch_size < 1) {
    throw ValueError(fmt::format("fit: batch_size must be >= 1, got {}", options.batch_size));
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
  std::iota(order.begin(), order.end(), 0);
  Logs logs;
  auto metrics = make_metrics();
  for (int epoch = 0; epoch < options.epochs && !stop_training; ++epoch) {
    for (auto& cb : callbacks) cb->on_epoch_begin(*this, epoch);
    if (options.shuffle) {
      // Fisher-Yates with the model's generator, so a seed fixes the order.
      for (int64_t i = samples - 1; i > 0; --i) {
        std::swap(order[i], order[rng_.below(static_cast<uint64_t>(i + 1))]);
      }
    }
    for (auto& m : metrics) m->reset();
    double loss_sum = 0;
    int64_t seen = 0;
    logs.clear();
    for (int64_t step = 0; step < steps && !stop_training; ++step) {
      int64_t begin = step * batch_size;
      int64_t count = std::min(batch_size, samples - begin);
      Tensor bx = tx->gather_rows(order.data() + begin, count);
      Tensor by = ty->gather_rows(order.data() + begin, count);
      Tensor pred;
      double loss = train_on_batch(bx, by, &pred);
      loss_sum += loss * static_cast<double>(count);
      seen += count;
      for (auto& m : metrics) m->update(pred, by);
      logs["loss"] = loss_sum / static_cast<double>(seen);
      for (auto& m : metrics) logs[m->name()] = m->result();
      if (!std::isfinite(loss)) logs["loss"] = loss;
      for (auto& cb : callbacks) cb->on_batch_end(*this, step, logs);
    }
    if (validation) {
      for (const auto& [name, value] : evaluate(validation->first, validation->second)) {
        logs["val_" + name] = value;
      }
    }
    for (const auto& name : history.names) {
      auto it = logs.find(name);
      history.values[name].push_back(it == logs.end() ? NAN : it->second);
    }
    for (auto& cb : callbacks) cb->on_epoch_end(*this, epoch, logs);
  }
  for (auto& cb : callbacks) cb->on_train_end(*this, logs);
  return history;
}

std::map<std::string, double> Sequential::evaluate(const Tensor& x, const Tensor& y,
                                                   int64_t batch_size) {
  check_compiled("evaluate");
  if (!built_ && x.rank() >= 1) build(Shape(x.shape().begin() + 1, x.shape().end()));
  check_data("evaluate", x, &y);
  if (batch_size < 1) throw ValueError("evaluate: batch_size must be >= 1");
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
  return s;
}

Sequential Sequential::from_spec(const nlohmann::json& spec) {
  if (!spec.is_object()) throw ValueError("model spec: expected a JSON object");
  static const char* const kKeys[] = {"input_shape", "layers",  "loss",
                                      "optimizer",   "metrics", "seed"};
  for (const auto& [key, value] : spec.items()) {
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
      throw ValueError(
          fmt::format("model spec: unknown key '{}'; expected input_shape, layers, loss, "
                      "optimizer, metrics, seed",
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
