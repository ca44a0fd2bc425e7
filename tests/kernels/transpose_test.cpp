#include "nnkit/kernels/transpose.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace nnkit {
namespace {

// Awkward sizes (1, not a multiple of the 16-float tile, one row or column) and one past the
// threshold at which the tile rows split over threads.
TEST(Transpose, MatchesTheDefinitionAndAddsWhenAsked) {
  struct Size {
    int64_t rows, cols;
  };
  for (Size s : {Size{1, 1}, Size{1, 7}, Size{9, 1}, Size{17, 33}, Size{48, 16}, Size{600, 513}}) {
    SCOPED_TRACE(::testing::Message() << s.rows << " x " << s.cols);
    std::vector<float> src(s.rows * s.cols), dst(s.rows * s.cols, -1.0f);
    for (int64_t i = 0; i < s.rows * s.cols; ++i) src[i] = static_cast<float>(i % 1009) + 0.5f;
    transpose(s.rows, s.cols, src.data(), dst.data());
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t c = 0; c < s.cols; ++c) {
        ASSERT_EQ(dst[c * s.rows + r], src[r * s.cols + c]) << "row " << r << " col " << c;
      }
    }
    std::vector<float> acc(s.rows * s.cols);
    for (int64_t i = 0; i < s.rows * s.cols; ++i) acc[i] = static_cast<float>(i % 7);
    const std::vector<float> before = acc;
    add_transposed(s.rows, s.cols, src.data(), acc.data());
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t c = 0; c < s.cols; ++c) {
        const int64_t at = c * s.rows + r;
        ASSERT_EQ(acc[at], before[at] + src[r * s.cols + c]) << "row " << r << " col " << c;
      }
    }
  }
}

}  // namespace
}  // namespace nnkit
