#include "test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "nnkit/error.h"
#include "nnkit/random.h"

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

void expect_all_near(const Tensor& got, const Tensor& want, double tolerance,
                     const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  int64_t worst = -1;
  double worst_excess = 0.0;
  for (int64_t i = 0; i < want.size(); ++i) {
    const double allowed = tolerance * std::max(1.0, std::fabs(static_cast<double>(want[i])));
    const double excess = std::fabs(static_cast<double>(got[i]) - want[i]) / allowed;
    if (!(excess <= 1.0) && (worst < 0 || !(excess <= worst_excess))) {
      worst = i;
      worst_excess = excess;
    }
  }
  if (worst >= 0) {
    ADD_FAILURE() << what << (what.empty() ? "" : ": ") << "element " << worst << " is "
                  << got[worst] << ", expected " << want[worst] << " within " << tolerance
                  << " (relative above 1)";
  }
}

Tensor distinct_tensor(const Shape& shape, uint64_t seed) {
  Tensor t(shape);
  std::vector<int64_t> order(static_cast<std::size_t>(t.size()));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int64_t i = t.size() - 1; i > 0; --i) {
    std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<uint64_t>(i + 1))]);
  }
  for (int64_t i = 0; i < t.size(); ++i) {
    t[i] = 0.05f * static_cast<float>(order[static_cast<std::size_t>(i)] - t.size() / 2);
  }
  return t;
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
