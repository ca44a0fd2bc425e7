#include "test_util.h"

#include <gtest/gtest.h>

#include "nnkit/error.h"

namespace nnkit::testing {

void expect_error_message(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one saying '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
        << "message '" << e.what() << "' lacks '" << part << "'";
  }
}

std::string mutate_bytes(std::string bytes, std::mt19937& rng) {
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = rng() % (bytes.size() + 1);
    switch (rng() % 4) {
      case 0:
      case 1:
        if (at < bytes.size()) bytes[at] = static_cast<char>(rng());
        break;
      case 2:
        bytes.resize(at);
        break;
      default:
        bytes.insert(at, 1, static_cast<char>(rng()));
    }
  }
  return bytes;
}

}  // namespace nnkit::testing
