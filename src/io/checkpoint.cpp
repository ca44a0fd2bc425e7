#include "nnkit/io/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/model_file.h"
#include "nnkit/io/safetensors.h"

namespace nnkit {

namespace {

constexpr const char* kOptimizerPrefix = "optimizer.";
constexpr const char* kExtraPrefix = "extra.";

void make_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError(fmt::format("{}: cannot create the directory: {}", dir, ec.message()));
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

nlohmann::json history_to_json(const History& history) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& name : history.names) {
    nlohmann::json column = nlohmann::json::array();
    // JSON has no NaN: a missing value (a metric of a resumed epoch) is null.
    for (double v : history[name]) column.push_back(std::isfinite(v) ? nlohmann::json(v) : nullptr);
    values[name] = column;
  }
  return {{"names", history.names}, {"values", values}};
}

History history_from_json(const nlohmann::json& j) {
  History history;
  history.names = j.at("names").get<std::vector<std::string>>();
  for (const auto& name : history.names) {
    std::vector<double>& column = history.values[name];
    for (const auto& v : j.at("values").at(name))
      column.push_back(v.is_null() ? NAN : v.get<double>());
  }
  return history;
}

}  // namespace

Checkpoint capture_checkpoint(Sequential& model, History history) {
  Checkpoint checkpoint;
  checkpoint.position = model.fit_position();
  if (model.optimizer() != nullptr)
    checkpoint.optimizer_iterations = model.optimizer()->iterations();
  for (Rng* rng : model.rngs()) checkpoint.rngs.push_back(rng->state());
  checkpoint.history = std::move(history);
  return checkpoint;
}

void save_checkpoint(const std::string& path, Sequential& model, const Checkpoint& checkpoint,
                     const std::map<std::string, std::string>& extra_metadata) {
  if (!model.built() || !model.compiled()) {
    throw ValueError("save_checkpoint: the model must be built and compiled");
  }
  SafetensorsFile file;
  file.metadata = extra_metadata;
  file.metadata["nnkit.format"] = "1";
  file.metadata["nnkit.spec"] = model.spec().dump();
  const FitPosition& p = checkpoint.position;
  nlohmann::json state = {{"position",
                           {{"epoch", p.epoch},
                            {"step", p.step},
                            {"loss_sum", p.loss_sum},
                            {"seen", p.seen},
                            {"epoch_rng", p.epoch_rng}}},
                          {"optimizer_iterations", checkpoint.optimizer_iterations},
                          {"rngs", checkpoint.rngs},
                          {"history", history_to_json(checkpoint.history)},
                          {"extra", checkpoint.extra}};
  file.metadata["nnkit.checkpoint"] = state.dump();
  for (auto& [name, param] : model.named_params()) file.tensors.emplace_back(name, param->value);
  // The optimizer's state exists once it has stepped; before that there is none to keep.
  for (auto& [name, tensor] : model.optimizer()->state()) {
    file.tensors.emplace_back(kOptimizerPrefix + name, *tensor);
  }
  for (const auto& [name, tensor] : checkpoint.extra_tensors) {
    if (name.empty()) throw ValueError("save_checkpoint: an extra tensor has no name");
    file.tensors.emplace_back(kExtraPrefix + name, tensor);
  }
  write_safetensors(path, file);
}

Sequential load_checkpoint(const std::string& path, Checkpoint* checkpoint,
                           std::map<std::string, std::string>* metadata) {
  SafetensorsFile file = read_safetensors(path);
  SafetensorsFile model_part;
  std::vector<std::pair<std::string, Tensor>> optimizer_state, extra;
  for (auto& [name, tensor] : file.tensors) {
    if (starts_with(name, kOptimizerPrefix)) {
      optimizer_state.emplace_back(name.substr(std::string(kOptimizerPrefix).size()),
                                   std::move(tensor));
    } else if (starts_with(name, kExtraPrefix)) {
      extra.emplace_back(name.substr(std::string(kExtraPrefix).size()), std::move(tensor));
    } else {
      model_part.tensors.emplace_back(name, std::move(tensor));
    }
  }
  auto entry = file.metadata.find("nnkit.checkpoint");
  if (entry == file.metadata.end()) {
    throw FormatError(fmt::format(
        "{}: not a checkpoint (__metadata__ has no \"nnkit.checkpoint\"); a model file continues "
        "training with --model",
        path));
  }
  const std::string state_text = entry->second;
  model_part.metadata = std::move(file.metadata);
  std::map<std::string, std::string> meta;
  Sequential model = model_from_safetensors(std::move(model_part), path, &meta);
  if (!model.compiled()) {
    throw FormatError(fmt::format("{}: the checkpoint's spec has no loss", path));
  }

  Checkpoint out;
  try {
    const nlohmann::json state = nlohmann::json::parse(state_text);
    const nlohmann::json& p = state.at("position");
    out.position = FitPosition{.epoch = p.at("epoch").get<int>(),
                               .step = p.at("step").get<int64_t>(),
                               .loss_sum = p.at("loss_sum").get<double>(),
                               .seen = p.at("seen").get<int64_t>(),
                               .epoch_rng = p.at("epoch_rng").get<std::array<uint64_t, 4>>()};
    out.optimizer_iterations = state.at("optimizer_iterations").get<int64_t>();
    out.rngs = state.at("rngs").get<std::vector<std::array<uint64_t, 4>>>();
    out.history = history_from_json(state.at("history"));
    out.extra = state.at("extra");
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: \"nnkit.checkpoint\" is malformed: {}", path, e.what()));
  }
  if (out.position.epoch < 0 || out.position.step < 0 || out.position.seen < 0 ||
      out.optimizer_iterations < 0) {
    throw FormatError(fmt::format("{}: \"nnkit.checkpoint\" holds a negative position", path));
  }

  // The generators, in the model's order.
  std::vector<Rng*> rngs = model.rngs();
  if (out.rngs.size() != rngs.size()) {
    throw FormatError(fmt::format("{}: the checkpoint has {} generator states, the model {}", path,
                                  out.rngs.size(), rngs.size()));
  }
  for (std::size_t i = 0; i < rngs.size(); ++i) rngs[i]->set_state(out.rngs[i]);

  // The optimizer's state: none before its first step, else every slot with its shape.
  Optimizer& optimizer = *model.optimizer();
  optimizer.set_iterations(out.optimizer_iterations);
  if (!optimizer_state.empty()) {
    optimizer.build(model.trainable_params());
    std::set<std::string> used;
    for (auto& [name, slot] : optimizer.state()) {
      // By index, not a lambda: clang before 16 cannot capture a structured binding.
      auto it = optimizer_state.begin();
      while (it != optimizer_state.end() && it->first != name) ++it;
      if (it == optimizer_state.end()) {
        throw FormatError(
            fmt::format("{}: optimizer tensor '{}{}' is missing", path, kOptimizerPrefix, name));
      }
      if (it->second.shape() != slot->shape()) {
        throw FormatError(fmt::format(
            "{}: optimizer tensor '{}{}' has shape {}, the model needs {}", path, kOptimizerPrefix,
            name, shape_to_string(it->second.shape()), shape_to_string(slot->shape())));
      }
      *slot = std::move(it->second);
      used.insert(name);
    }
    for (const auto& [name, tensor] : optimizer_state) {
      if (!used.count(name)) {
        throw FormatError(fmt::format("{}: optimizer tensor '{}{}' belongs to no parameter of {}",
                                      path, kOptimizerPrefix, name, optimizer.name()));
      }
    }
  }
  out.extra_tensors = std::move(extra);
  if (checkpoint != nullptr) *checkpoint = std::move(out);
  if (metadata != nullptr) *metadata = std::move(meta);
  return model;
}

// CheckpointCallback ----------------------------------------------------------------------

CheckpointCallback::CheckpointCallback(CheckpointOptions options) : options_(std::move(options)) {
  if (options_.directory.empty()) throw ValueError("CheckpointCallback: directory is empty");
}

std::string CheckpointCallback::last_path() const {
  return (std::filesystem::path(options_.directory) / "last.safetensors").string();
}
std::string CheckpointCallback::best_path() const {
  return (std::filesystem::path(options_.directory) / "best.safetensors").string();
}

void CheckpointCallback::resume(const Checkpoint& checkpoint) {
  history_ = checkpoint.history;
  try {
    const nlohmann::json& own = checkpoint.extra.at("checkpoint");
    if (!own.at("best").is_null()) best_ = own.at("best").get<double>();
    if (options_.early_stopping && checkpoint.extra.contains("early_stopping")) {
      const nlohmann::json& es = checkpoint.extra.at("early_stopping");
      EarlyStopping::State state{.best = es.at("best").get<double>(),
                                 .best_epoch = es.at("best_epoch").get<int>(),
                                 .wait = es.at("wait").get<int>()};
      for (const auto& [name, tensor] : checkpoint.extra_tensors) {
        if (name.rfind("early_stopping.", 0) == 0) state.best_weights.push_back(tensor);
      }
      options_.early_stopping->resume(std::move(state));
    }
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(
        fmt::format("checkpoint: the callback's entries are malformed: {}", e.what()));
  }
}

void CheckpointCallback::on_train_begin(Sequential& /*model*/, const TrainInfo& info) {
  if (history_.names.empty()) history_.names = info.metric_names;
  for (const auto& name : history_.names) history_.values[name];
  interrupted_ = false;
}

void CheckpointCallback::on_batch_end(Sequential& model, int64_t /*batch*/, const Logs& logs) {
  if (options_.interrupt == nullptr || *options_.interrupt == 0 || interrupted_) return;
  auto loss = logs.find("loss");
  if (loss != logs.end() && !std::isfinite(loss->second)) return;
  save_last(model);
  interrupted_ = true;
  model.stop_training = true;
}

void CheckpointCallback::on_epoch_end(Sequential& model, int /*epoch*/, const Logs& logs) {
  if (interrupted_ || model.fit_position().step != 0) return;  // an epoch cut short
  auto loss = logs.find("loss");
  if (loss == logs.end() || !std::isfinite(loss->second)) return;
  for (const auto& name : history_.names) {
    auto it = logs.find(name);
    history_.values[name].push_back(it == logs.end() ? NAN : it->second);
  }
  if (!options_.every_epoch) return;
  make_directory(options_.directory);
  auto value = logs.find(options_.monitor);
  if (value != logs.end() && std::isfinite(value->second)) {
    const bool maximize = options_.monitor.find("acc") != std::string::npos;
    if (!best_ || (maximize ? value->second > *best_ : value->second < *best_)) {
      best_ = value->second;
      save_model(best_path(), model, options_.metadata);
    }
  }
  save_last(model);
}

void CheckpointCallback::save_last(Sequential& model) {
  Checkpoint checkpoint = capture_checkpoint(model, history_);
  checkpoint.extra["checkpoint"] = {{"best", best_ ? nlohmann::json(*best_) : nlohmann::json()}};
  if (options_.early_stopping) {
    EarlyStopping::State state = options_.early_stopping->state();
    checkpoint.extra["early_stopping"] = {
        {"best", state.best}, {"best_epoch", state.best_epoch}, {"wait", state.wait}};
    for (std::size_t i = 0; i < state.best_weights.size(); ++i) {
      checkpoint.extra_tensors.emplace_back(fmt::format("early_stopping.{}", i),
                                            std::move(state.best_weights[i]));
    }
  }
  if (options_.extra) checkpoint.extra["user"] = options_.extra();
  make_directory(options_.directory);
  save_checkpoint(last_path(), model, checkpoint, options_.metadata);
}

}  // namespace nnkit
