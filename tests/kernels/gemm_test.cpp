#include "nnkit/kernels/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "nnkit/kernels/threads.h"
#include "nnkit/random.h"

namespace nnkit {
namespace {

// Awkward sizes (1, 3, 17, 129) in every transpose combination, against the reference loop.
class GemmMatchesReference
    : public ::testing::TestWithParam<std::tuple<int, int, int, bool, bool, float>> {};

TEST_P(GemmMatchesReference, OnAwkwardSizes) {
  auto [m, n, k, ta, tb, beta] = GetParam();
  Rng rng(7);
  std::vector<float> a(m * k), b(k * n), c(m * n), c_ref;
  for (auto& v : a) v = rng.uniform(-1, 1);
  for (auto& v : b) v = rng.uniform(-1, 1);
  for (auto& v : c) v = rng.uniform(-1, 1);
  c_ref = c;
  Trans trans_a = ta ? Trans::Yes : Trans::No, trans_b = tb ? Trans::Yes : Trans::No;
  int lda = ta ? m : k, ldb = tb ? k : n;
  gemm(trans_a, trans_b, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, beta, c.data(), n);
  gemm_reference(trans_a, trans_b, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, beta, c_ref.data(),
                 n);
  for (int i = 0; i < m * n; ++i) ASSERT_NEAR(c[i], c_ref[i], 1e-4f * std::sqrt(k) + 1e-5f) << i;
}

INSTANTIATE_TEST_SUITE_P(Sizes, GemmMatchesReference,
                         ::testing::Combine(::testing::Values(1, 3, 17, 129),
                                            ::testing::Values(1, 17, 129),
                                            ::testing::Values(1, 3, 129), ::testing::Bool(),
                                            ::testing::Bool(), ::testing::Values(0.0f, 1.0f)));

TEST(Gemm, ZeroInnerDimensionScalesC) {
  float c[2] = {1, 2};
  gemm(Trans::No, Trans::No, 1, 2, 0, 1.0f, nullptr, 1, nullptr, 2, 0.5f, c, 2);
  EXPECT_EQ(c[0], 0.5f);
  EXPECT_EQ(c[1], 1.0f);
}

// Large enough to be split (2^26 multiply-adds), on 2 threads, in every transpose combination;
// n not a multiple of 16 and every matrix stored with a wider row stride than it uses, so a
// share starting at the wrong column or row of B or C shows.
TEST(Gemm, SplitColumnsMatchesTheReference) {
  const int before = num_threads();
  set_num_threads(2);
  const int64_t m = 40, n = 1000, k = 1700, pad = 5;
  ASSERT_GE(m * n * k, int64_t{1} << 26);
  Rng rng(11);
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "trans_a=" << ta << " trans_b=" << tb);
      const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
      std::vector<float> a((ta ? k : m) * lda), b((tb ? n : k) * ldb), c(m * ldc);
      for (auto& v : a) v = rng.uniform(-1, 1);
      for (auto& v : b) v = rng.uniform(-1, 1);
      for (auto& v : c) v = rng.uniform(-1, 1);
      std::vector<float> c_ref = c;
      const Trans trans_a = ta ? Trans::Yes : Trans::No, trans_b = tb ? Trans::Yes : Trans::No;
      gemm_split_columns(trans_a, trans_b, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 1.0f,
                         c.data(), ldc);
      gemm_reference(trans_a, trans_b, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 1.0f,
                     c_ref.data(), ldc);
      // The padding columns of C are left as they were.
      for (int64_t i = 0; i < m * ldc; ++i)
        ASSERT_NEAR(c[i], c_ref[i], 1e-4f * std::sqrt(static_cast<float>(k))) << i;
    }
  }
  set_num_threads(before);
}

}  // namespace
}  // namespace nnkit
