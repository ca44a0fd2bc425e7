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
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
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

}  // namespace nnkit
