#include "nnkit/kernels/elementwise.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace nnkit {
namespace {

// Column sums added into out, each column summed in row order whether or not the columns are
// split over threads: equal, bit for bit, to the plain loop. The sizes: small (one thread), one
// column block, and large with a partial last block (split).
TEST(SumRowsInto, AddsEachColumnsSumInRowOrder) {
  struct Size {
    int64_t rows, cols;
  };
  for (Size s : {Size{3, 5}, Size{1000, 64}, Size{301, 200}, Size{70, 1536}}) {
    SCOPED_TRACE(::testing::Message() << s.rows << " x " << s.cols);
    std::vector<float> x(s.rows * s.cols), out(s.cols), expected(s.cols);
    for (int64_t i = 0; i < s.rows * s.cols; ++i) x[i] = 0.37f * static_cast<float>(i % 101) - 9.1f;
    for (int64_t c = 0; c < s.cols; ++c) out[c] = expected[c] = static_cast<float>(c);
    for (int64_t r = 0; r < s.rows; ++r) {
      for (int64_t c = 0; c < s.cols; ++c) expected[c] += x[r * s.cols + c];
    }
    sum_rows_into(s.rows, s.cols, x.data(), out.data());
    for (int64_t c = 0; c < s.cols; ++c) ASSERT_EQ(out[c], expected[c]) << "column " << c;
  }
}

}  // namespace
}  // namespace nnkit
