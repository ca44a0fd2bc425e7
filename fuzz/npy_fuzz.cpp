// libFuzzer target: bytes read as a .npy array (parse_npy). An nnkit::Error is the right answer
// to bad bytes; anything else (a crash, a sanitizer report, another exception, which ends in
// std::terminate, a hang) is a finding. What parses holds exactly the values its shape needs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "nnkit/data/npy.h"
#include "nnkit/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const nnkit::Tensor tensor = nnkit::parse_npy(bytes, "fuzz.npy");
    FUZZ_CHECK(tensor.size() == nnkit::shape_size(tensor.shape()));
    // The data bytes are counted exactly, so there are never more values than bytes.
    FUZZ_CHECK(static_cast<std::size_t>(tensor.size()) <= size);
  } catch (const nnkit::Error&) {
  }
  return 0;
}
