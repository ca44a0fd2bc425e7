// Checkpoints: all a training run needs to go on as if it had never stopped, in one safetensors
// file. It holds what a model file holds (spec with the optimizer, weights under layers.*, the
// caller's metadata) and besides: the optimizer's state tensors under "optimizer.{slot}"
// (Optimizer::state() names), the caller's tensors under "extra.{name}", and in __metadata__
// "nnkit.checkpoint", a JSON object with the fit position, the optimizer's step count, every
// generator's state, the history so far and the caller's JSON.
//
//   save_checkpoint(dir + "/last.safetensors", model, capture_checkpoint(model, history));
//   Checkpoint state;
//   Sequential model = load_checkpoint(dir + "/last.safetensors", &state);
//   model.fit(x, y, {.epochs = 10, .resume = state.position});  // the same weights as one run
#pragma once

#include <array>
#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/callbacks.h"
#include "nnkit/model.h"

namespace nnkit {

struct Checkpoint {
  FitPosition position;
  int64_t optimizer_iterations = 0;
  std::vector<std::array<uint64_t, 4>> rngs;                  // Sequential::rngs(), in its order
  History history;                                            // the epochs completed
  nlohmann::json extra = nlohmann::json::object();            // the caller's
  std::vector<std::pair<std::string, Tensor>> extra_tensors;  // the caller's
};

// The model's side of a checkpoint now: fit position, optimizer steps, generators; with the
// history given. The optimizer's tensors are read by save_checkpoint.
Checkpoint capture_checkpoint(Sequential& model, History history = {});

// Writes through a temporary file renamed into place. The model must be built and compiled.
// Throws ValueError (not built or compiled, a bad extra name), IoError.
void save_checkpoint(const std::string& path, Sequential& model, const Checkpoint& checkpoint,
                     const std::map<std::string, std::string>& extra_metadata = {});

// The model as it was saved: built, compiled, with its weights, optimizer state and generators.
// `checkpoint` receives the rest. Checks the file as load_model does and the checkpoint's
// entries against the model (tensor names and shapes, generator count); throws IoError or
// FormatError naming the file.
Sequential load_checkpoint(const std::string& path, Checkpoint* checkpoint,
                           std::map<std::string, std::string>* metadata = nullptr);

// Keeps a run resumable: after every epoch writes {directory}/last.safetensors, a checkpoint,
// and when `monitor` improved, first {directory}/best.safetensors, a model file of that epoch.
// When *interrupt turns non-zero (a signal handler's flag), it saves the checkpoint after the
// batch at hand and stops training; the epoch's end is then not saved. Epochs cut short (a
// loss gone NaN) and non-finite losses are never saved.
struct CheckpointOptions {
  std::string directory;
  std::string monitor = "val_loss";  // smaller is better, unless the name holds "acc"
  // false: only the interrupt's checkpoint is written (the directory is made then).
  bool every_epoch = true;
  std::map<std::string, std::string> metadata = {};  // into both files (e.g. nnkit.preprocess)
  // Saved with the checkpoint and restored by resume(): its state and best weights.
  std::shared_ptr<EarlyStopping> early_stopping = nullptr;
  // The caller's JSON, asked for at every save (Checkpoint::extra["user"]).
  std::function<nlohmann::json()> extra = nullptr;
  const volatile std::sig_atomic_t* interrupt = nullptr;
};
class CheckpointCallback final : public Callback {
 public:
  explicit CheckpointCallback(CheckpointOptions options);
  // Continues from a checkpoint this callback wrote: its history and best value, the early
  // stopping state. Call before fit(). Throws FormatError when the entries are malformed.
  void resume(const Checkpoint& checkpoint);

  void on_train_begin(Sequential& model, const TrainInfo& info) override;
  void on_batch_end(Sequential& model, int64_t batch, const Logs& logs) override;
  void on_epoch_end(Sequential& model, int epoch, const Logs& logs) override;

  bool interrupted() const { return interrupted_; }
  // Every epoch of the run, the ones before a resume included.
  const History& history() const { return history_; }
  std::string last_path() const;
  std::string best_path() const;

 private:
  void save_last(Sequential& model);
  CheckpointOptions options_;
  History history_;
  std::optional<double> best_;
  bool interrupted_ = false;
};

}  // namespace nnkit
