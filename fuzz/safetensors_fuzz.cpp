// libFuzzer target: bytes read as a safetensors file (parse_safetensors) and as a model file
// (parse_model). An nnkit::Error is the right answer to bad bytes; anything else (a crash, a
// sanitizer report, another exception, which ends in std::terminate, a hang) is a finding.
// What parses must also survive a round trip: serialized and parsed again, the same names in
// the same order, the same shapes and the same bits.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_support.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"
#include "nnkit/io/safetensors.h"

namespace {

void check_round_trip(const nnkit::SafetensorsFile& file) {
  const nnkit::SafetensorsFile again =
      nnkit::parse_safetensors(nnkit::serialize_safetensors(file), "round trip");
  FUZZ_CHECK(again.metadata == file.metadata);
  FUZZ_CHECK(again.tensors.size() == file.tensors.size());
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& [name, tensor] = file.tensors[i];
    const auto& [name_again, tensor_again] = again.tensors[i];
    FUZZ_CHECK(name_again == name);
    FUZZ_CHECK(tensor_again.shape() == tensor.shape());
    FUZZ_CHECK(tensor.size() == nnkit::shape_size(tensor.shape()));
    FUZZ_CHECK(tensor.size() == 0 ||
               std::memcmp(tensor_again.data(), tensor.data(), tensor.size() * sizeof(float)) == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    check_round_trip(nnkit::parse_safetensors(bytes, "fuzz.safetensors"));
  } catch (const nnkit::Error&) {
  }
  try {
    std::map<std::string, std::string> metadata;
    nnkit::parse_model(bytes, "fuzz.safetensors", &metadata);
    FUZZ_CHECK(metadata.at("nnkit.format") == "1");
  } catch (const nnkit::Error&) {
  }
  return 0;
}
