#include "nnkit/io/model_file.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "nlohmann/json.hpp"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/safetensors.h"
#include "nnkit/layers.h"
#include "scratch_dir.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;
using testing::ScratchDir;

// [2, 3] -> Flatten -> Dense 4: weights layers.1.weight [4, 6] and layers.1.bias [4].
Sequential small_model() {
  Sequential model({.input_shape = {2, 3}, .seed = 7});
  model.add(Flatten());
  model.add(Dense({.units = 4}));
  return model;
}

// The model file of small_model() with "units": 4 of its spec replaced by `units`.
std::string with_units(const std::string& units) {
  Sequential model = small_model();
  SafetensorsFile file;
  file.metadata["nnkit.format"] = "1";
  nlohmann::json spec = model.spec();
  spec["layers"][1]["units"] = nlohmann::json::parse(units);
  file.metadata["nnkit.spec"] = spec.dump();
  for (auto& [name, param] : model.named_params()) file.tensors.emplace_back(name, param->value);
  return serialize_safetensors(file);
}

TEST(ModelFile, ParseModelReadsWhatLoadModelReads) {
  ScratchDir dir;
  Sequential model = small_model();
  save_model(dir.file("m.safetensors"), model, {{"note", "kept"}});
  std::map<std::string, std::string> metadata;
  Sequential parsed = parse_model(read_file(dir.file("m.safetensors")), "m", &metadata);
  EXPECT_EQ(parsed.spec(), model.spec());
  EXPECT_EQ(metadata.at("note"), "kept");
  const Tensor x({1, 2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(parsed.predict(x).to_vector(), model.predict(x).to_vector());
  EXPECT_EQ(load_model(dir.file("m.safetensors")).predict(x).to_vector(),
            model.predict(x).to_vector());
}

// Seen while fuzzing the loader (fuzz/safetensors_fuzz): the spec's layers are built before
// the tensors are compared with them, and units of 4e18 made the weight's size [4e18, 6]
// overflow int64 (undefined behaviour) while it was counted.
TEST(ModelFile, SpecWhoseWeightSizeOverflowsIsAFormatError) {
  expect_throw_containing<FormatError>(
      [] { parse_model(with_units("4000000000000000000"), "m.safetensors"); },
      "m.safetensors: bad \"nnkit.spec\": model spec: layers[1]: layer 1 (Dense): Tensor: shape "
      "[4000000000000000000, 6] is too large (its size overflows)");
}

#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer reports such an allocation and stops
// Units of 1e15 need 24 PB of weights, which no allocator gives.
TEST(ModelFile, SpecOfWeightsBeyondMemoryIsAFormatError) {
  expect_throw_containing<FormatError>(
      [] { parse_model(with_units("1000000000000000"), "m.safetensors"); },
      "m.safetensors: bad \"nnkit.spec\": its layers need more memory than can be allocated");
}
#endif

TEST(ModelFile, SpecThatDisagreesWithTheTensorsIsAFormatError) {
  expect_throw_containing<FormatError>(
      [] { parse_model(with_units("5"), "m.safetensors"); },
      "m.safetensors: tensor 'layers.1.weight' has shape [4, 6], the spec needs [5, 6]");
}

}  // namespace
}  // namespace nnkit
