// Model files: one safetensors file holds a whole model — the weights under
// layers.{i}.{name} in PyTorch's names and layouts, and in __metadata__ "nnkit.format" = "1"
// and "nnkit.spec" (the model spec as a JSON string). A file written by PyTorch with those
// names and that metadata loads as well.
#pragma once

#include <map>
#include <string>

#include "nnkit/io/safetensors.h"
#include "nnkit/model.h"

namespace nnkit {

// Writes the model (built) through a temporary file renamed into place. `extra_metadata`
// is added to __metadata__ (e.g. "nnkit.preprocess").
void save_model(const std::string& path, Sequential& model,
                const std::map<std::string, std::string>& extra_metadata = {});

// Reads and checks a model file: metadata, spec, and every tensor the spec's layers need,
// with its shape; no tensor may be missing or left over. The spec's layers are built, their
// weights allocated, before the tensors are compared with them: a spec whose sizes overflow or
// exceed memory is a FormatError too. Throws IoError or FormatError naming the file and the
// problem. With `metadata`, the file's __metadata__ is stored there
// (e.g. "nnkit.preprocess" of a model trained on a CSV).
Sequential load_model(const std::string& path,
                      std::map<std::string, std::string>* metadata = nullptr);
// The same on the file's bytes already in memory; `path` only names the file in messages.
Sequential parse_model(const std::string& bytes, const std::string& path,
                       std::map<std::string, std::string>* metadata = nullptr);
// The same on a parsed file, whose tensors are moved into the model.
Sequential model_from_safetensors(SafetensorsFile file, const std::string& path,
                                  std::map<std::string, std::string>* metadata = nullptr);

}  // namespace nnkit
