#include "nnkit/io/model_file.h"

#include <new>
#include <set>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/safetensors.h"

namespace nnkit {

void save_model(const std::string& path, Sequential& model,
                const std::map<std::string, std::string>& extra_metadata) {
  if (!model.built())
    throw ValueError("save_model: the model is not built (give input_shape or fit it first)");
  SafetensorsFile file;
  file.metadata = extra_metadata;
  file.metadata["nnkit.format"] = "1";
  file.metadata["nnkit.spec"] = model.spec().dump();
  for (auto& [name, param] : model.named_params()) file.tensors.emplace_back(name, param->value);
  write_safetensors(path, file);
}

Sequential load_model(const std::string& path, std::map<std::string, std::string>* metadata) {
  return parse_model(read_file(path), path, metadata);
}

Sequential parse_model(const std::string& bytes, const std::string& path,
                       std::map<std::string, std::string>* metadata) {
  return model_from_safetensors(parse_safetensors(bytes, path), path, metadata);
}

Sequential model_from_safetensors(SafetensorsFile file, const std::string& path,
                                  std::map<std::string, std::string>* metadata) {
  auto format = file.metadata.find("nnkit.format");
  if (format == file.metadata.end() || format->second != "1") {
    throw FormatError(fmt::format(
        "{}: not an nnkit model file (__metadata__ needs \"nnkit.format\": \"1\")", path));
  }
  auto spec_text = file.metadata.find("nnkit.spec");
  if (spec_text == file.metadata.end()) {
    throw FormatError(fmt::format("{}: __metadata__ has no \"nnkit.spec\"", path));
  }
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(spec_text->second);
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: \"nnkit.spec\" is not valid JSON: {}", path, e.what()));
  }
  if (!spec.is_object() || !spec.contains("input_shape")) {
    throw FormatError(fmt::format("{}: \"nnkit.spec\" needs an input_shape", path));
  }
  Sequential model;
  try {
    model = Sequential::from_spec(spec);
  } catch (const Error& e) {
    throw FormatError(fmt::format("{}: bad \"nnkit.spec\": {}", path, e.what()));
  } catch (const std::bad_alloc&) {
    // The layers are built, their weights allocated, before the file's tensors are compared
    // with them: a spec of absurd sizes (a damaged file) fails here.
    throw FormatError(fmt::format(
        "{}: bad \"nnkit.spec\": its layers need more memory than can be allocated", path));
  }
  std::set<std::string> used;
  for (auto& [name, param] : model.named_params()) {
    const Tensor* t = file.find(name);
    if (t == nullptr) throw FormatError(fmt::format("{}: tensor '{}' is missing", path, name));
    if (t->shape() != param->value.shape()) {
      throw FormatError(fmt::format("{}: tensor '{}' has shape {}, the spec needs {}", path, name,
                                    shape_to_string(t->shape()),
                                    shape_to_string(param->value.shape())));
    }
    param->value = *t;
    used.insert(name);
  }
  for (const auto& [name, tensor] : file.tensors) {
    if (!used.count(name)) {
      throw FormatError(fmt::format("{}: tensor '{}' belongs to no layer of the spec", path, name));
    }
  }
  if (metadata != nullptr) *metadata = std::move(file.metadata);
  return model;
}

}  // namespace nnkit
