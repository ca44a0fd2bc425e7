#include "nnkit/kernels/gemv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "nnkit/random.h"

namespace nnkit {
namespace {

// A [m, k] with a row stride wider than k, x and y, and the tolerance of each output: the
// worst-case rounding of a float sum, depth · 2⁻²⁴ · Σ |terms| (plus the prior y when
// accumulating), where the kernels' depth is n / 16 chained FMAs per lane, a few more to sum
// the lanes, one to accumulate.
struct Problem {
  Problem(int64_t m_, int64_t k_) : m(m_), k(k_), lda(k_ + 3), a(m_ * (k_ + 3)) {
    Rng rng(11);
    for (auto& v : a) v = rng.uniform(-1, 1);
    x_rows.resize(m);
    x_cols.resize(k);
    for (auto& v : x_rows) v = rng.uniform(-1, 1);
    for (auto& v : x_cols) v = rng.uniform(-1, 1);
    y_rows.resize(m);
    y_cols.resize(k);
    for (auto& v : y_rows) v = rng.uniform(-1, 1);
    for (auto& v : y_cols) v = rng.uniform(-1, 1);
  }
  float at(int64_t i, int64_t j) const { return a[i * lda + j]; }
  // Bound for output i of A·x (transposed: output j of Aᵀ·x).
  double tolerance(int64_t out, bool transposed, bool accumulate) const {
    const int64_t n = transposed ? m : k;
    double sum = 0.0;
    if (transposed)
      for (int64_t i = 0; i < m; ++i) sum += std::abs(at(i, out) * x_rows[i]);
    else
      for (int64_t j = 0; j < k; ++j) sum += std::abs(at(out, j) * x_cols[j]);
    if (accumulate) sum += std::abs(transposed ? y_cols[out] : y_rows[out]);
    return static_cast<double>(n / 16 + 8) * 0x1p-24 * sum;
  }
  int64_t m, k, lda;
  std::vector<float> a, x_rows, x_cols, y_rows, y_cols;
};

void expect_near_each(const Problem& p, const std::vector<float>& fast,
                      const std::vector<float>& reference, bool transposed, bool accumulate) {
  ASSERT_EQ(fast.size(), reference.size());
  for (size_t i = 0; i < fast.size(); ++i)
    ASSERT_NEAR(fast[i], reference[i], p.tolerance(static_cast<int64_t>(i), transposed, accumulate))
        << "output " << i;
}

// p's matrix packed, its half-precision copy, and p with the matrix rounded as that copy is.
struct Packings {
  explicit Packings(const Problem& p) : rounded(p) {
    pack_rows(p.a.data(), p.m, p.k, p.lda, packed);
    to_half(packed, half);
    for (auto& v : rounded.a) v = half_to_float(float_to_half(v));
  }
  PackedMatrix packed;
  HalfPackedMatrix half;
  Problem rounded;
};

class GemvMatchesReference : public ::testing::TestWithParam<std::tuple<int, int, bool>> {};

TEST_P(GemvMatchesReference, AsStored) {
  auto [m, k, accumulate] = GetParam();
  Problem p(m, k);
  std::vector<float> y = p.y_rows, y_ref = p.y_rows;
  gemv(m, k, p.a.data(), p.lda, p.x_cols.data(), y.data(), accumulate);
  gemv_reference(m, k, p.a.data(), p.lda, p.x_cols.data(), y_ref.data(), accumulate);
  expect_near_each(p, y, y_ref, false, accumulate);

  std::vector<float> yt = p.y_cols, yt_ref = p.y_cols;
  gemv_transposed(m, k, p.a.data(), p.lda, p.x_rows.data(), yt.data(), accumulate);
  gemv_transposed_reference(m, k, p.a.data(), p.lda, p.x_rows.data(), yt_ref.data(), accumulate);
  expect_near_each(p, yt, yt_ref, true, accumulate);
}

TEST_P(GemvMatchesReference, Packed) {
  auto [m, k, accumulate] = GetParam();
  Problem p(m, k);
  PackedMatrix packed;
  pack_rows(p.a.data(), m, k, p.lda, packed);
  std::vector<float> y = p.y_rows, y_ref = p.y_rows;
  gemv_packed(packed, p.x_cols.data(), y.data(), accumulate);
  gemv_reference(m, k, p.a.data(), p.lda, p.x_cols.data(), y_ref.data(), accumulate);
  expect_near_each(p, y, y_ref, false, accumulate);

  std::vector<float> yt = p.y_cols, yt_ref = p.y_cols;
  gemv_transposed_packed(packed, p.x_rows.data(), yt.data(), accumulate);
  gemv_transposed_reference(m, k, p.a.data(), p.lda, p.x_rows.data(), yt_ref.data(), accumulate);
  expect_near_each(p, yt, yt_ref, true, accumulate);
}

// The half-precision product is the float one on the weights rounded to half precision (the
// conversion the AVX-512 path uses in registers must round as float_to_half does).
TEST_P(GemvMatchesReference, PackedHalf) {
  auto [m, k, accumulate] = GetParam();
  Problem p(m, k);
  const Packings packings(p);
  const Problem& rounded = packings.rounded;
  std::vector<float> y = p.y_rows, y_ref = p.y_rows;
  gemv_packed_half(packings.half, p.x_cols.data(), y.data(), accumulate);
  gemv_reference(m, k, rounded.a.data(), p.lda, p.x_cols.data(), y_ref.data(), accumulate);
  expect_near_each(rounded, y, y_ref, false, accumulate);
}

TEST(Gemv, HalfPrecisionRoundsToNearestEven) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3C00);
  EXPECT_EQ(float_to_half(-2.5f), 0xC100);
  EXPECT_EQ(float_to_half(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_half(65519.0f), 0x7BFF);  // under halfway to 65536: the largest half
  EXPECT_EQ(float_to_half(65520.0f), 0x7C00);  // halfway, ties to even: infinity
  EXPECT_EQ(float_to_half(INFINITY), 0x7C00);
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
  // 1 + 2⁻¹¹ is halfway between 1 and 1 + 2⁻¹⁰: to the even one, 1; 1 + 3·2⁻¹¹ up to 1 + 2⁻⁹.
  EXPECT_EQ(float_to_half(1.0f + 0x1p-11f), 0x3C00);
  EXPECT_EQ(float_to_half(1.0f + 3 * 0x1p-11f), 0x3C02);
  EXPECT_EQ(float_to_half(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);  // past halfway: up
  // Subnormals: multiples of 2⁻²⁴; just under 2⁻¹⁴ rounds up to the smallest normal.
  EXPECT_EQ(float_to_half(0x1p-24f), 0x0001);
  EXPECT_EQ(float_to_half(0x1p-25f), 0x0000);  // halfway to 0: even
  EXPECT_EQ(float_to_half(3 * 0x1p-25f), 0x0002);
  EXPECT_EQ(float_to_half(0x1p-14f - 0x1p-30f), 0x0400);
  for (uint16_t h : {0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0x8001, 0xC100, 0x7C00, 0xFC00})
    EXPECT_EQ(float_to_half(half_to_float(h)), h) << h;
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
}

// Awkward sizes on both sides, LSTM(128)'s recurrent [512, 128], GRU(128)'s [384, 128], an
// input projection [512, 6], and sizes past one 128-row panel or 128-column block.
INSTANTIATE_TEST_SUITE_P(GemvAwkwardSizes, GemvMatchesReference,
                         ::testing::Combine(::testing::Values(1, 3, 17, 129),
                                            ::testing::Values(1, 3, 17, 129), ::testing::Bool()));
INSTANTIATE_TEST_SUITE_P(GemvLayerSizes, GemvMatchesReference,
                         ::testing::Values(std::tuple{512, 128, false}, std::tuple{512, 128, true},
                                           std::tuple{384, 128, true}, std::tuple{512, 6, true},
                                           std::tuple{300, 250, false},
                                           std::tuple{1024, 256, true}));

TEST(Gemv, OverwritesGarbageWhenNotAccumulating) {
  Problem p(17, 3);
  PackedMatrix packed;
  pack_rows(p.a.data(), 17, 3, p.lda, packed);
  std::vector<float> y(17, NAN), y_ref(17);
  gemv_packed(packed, p.x_cols.data(), y.data(), false);
  gemv_reference(17, 3, p.a.data(), p.lda, p.x_cols.data(), y_ref.data(), false);
  expect_near_each(p, y, y_ref, false, false);
  std::vector<float> yt(3, NAN), yt_ref(3);
  gemv_transposed(17, 3, p.a.data(), p.lda, p.x_rows.data(), yt.data(), false);
  gemv_transposed_reference(17, 3, p.a.data(), p.lda, p.x_rows.data(), yt_ref.data(), false);
  expect_near_each(p, yt, yt_ref, true, false);
}

// PanelDone is called after each panel, in order, with the panel's rows; at that call those
// rows of y are final and no later row has been written yet (float and half products).
TEST(Gemv, PanelDoneSeesEachPanelFinishedAndNothingAfterIt) {
  const int64_t m = 2 * kPackedPanelRows + 44, k = 19;  // a last panel of 44 rows (48 wide)
  Problem p(m, k);
  const Packings packings(p);
  for (const bool use_half : {false, true}) {
    SCOPED_TRACE(use_half ? "half" : "float");
    const Problem& reference_problem = use_half ? packings.rounded : p;
    std::vector<float> y(m, NAN), y_ref(m);
    gemv_reference(m, k, reference_problem.a.data(), p.lda, p.x_cols.data(), y_ref.data(), false);
    std::vector<std::pair<int64_t, int64_t>> calls;
    auto check = [&](int64_t row0, int64_t rows) {
      calls.emplace_back(row0, rows);
      for (int64_t i = row0; i < row0 + rows; ++i)
        EXPECT_NEAR(y[i], y_ref[i], reference_problem.tolerance(i, false, false)) << i;
      for (int64_t i = row0 + rows; i < m; ++i) EXPECT_TRUE(std::isnan(y[i])) << i;
    };
    if (use_half) {
      gemv_packed_half(packings.half, p.x_cols.data(), y.data(), false, PanelDone::of(check));
    } else {
      gemv_packed(packings.packed, p.x_cols.data(), y.data(), false, PanelDone::of(check));
    }
    EXPECT_EQ(calls, (std::vector<std::pair<int64_t, int64_t>>{{0, kPackedPanelRows},
                                                               {kPackedPanelRows, kPackedPanelRows},
                                                               {2 * kPackedPanelRows, 44}}));
  }
}

TEST(Gemv, WritesNothingPastTheOutput) {
  // 17 outputs: the kernels work in 16-lane vectors, the second one masked.
  Problem p(17, 17);
  PackedMatrix packed;
  pack_rows(p.a.data(), 17, 17, p.lda, packed);
  std::vector<float> y(17 + 16, 5.0f);
  gemv(17, 17, p.a.data(), p.lda, p.x_cols.data(), y.data(), false);
  gemv_transposed(17, 17, p.a.data(), p.lda, p.x_rows.data(), y.data(), true);
  gemv_packed(packed, p.x_cols.data(), y.data(), true);
  gemv_transposed_packed(packed, p.x_rows.data(), y.data(), true);
  for (size_t i = 17; i < y.size(); ++i) EXPECT_EQ(y[i], 5.0f) << i;
}

TEST(Gemv, RepackingASmallerMatrixReusesTheStorage) {
  Problem big(129, 17), small(3, 3);
  PackedMatrix packed;
  pack_rows(big.a.data(), 129, 17, big.lda, packed);
  const float* storage = packed.data.data();
  pack_rows(small.a.data(), 3, 3, small.lda, packed);
  EXPECT_EQ(packed.data.data(), storage);
  std::vector<float> y(3), y_ref(3);
  gemv_packed(packed, small.x_cols.data(), y.data(), false);
  gemv_reference(3, 3, small.a.data(), small.lda, small.x_cols.data(), y_ref.data(), false);
  expect_near_each(small, y, y_ref, false, false);
}

TEST(Gemv, SaysWhetherItIsVectorized) {
#ifdef __AVX512F__
  EXPECT_TRUE(gemv_is_vectorized());
#else
  EXPECT_FALSE(gemv_is_vectorized());
#endif
}

TEST(Gemv, EmptyProductsGiveZeros) {
  float y[2] = {NAN, NAN};
  gemv_transposed(0, 2, nullptr, 2, nullptr, y, false);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 0.0f);
  PackedMatrix packed;
  float dummy = 0.0f;
  pack_rows(&dummy, 2, 0, 0, packed);
  y[0] = y[1] = NAN;
  gemv_packed(packed, nullptr, y, false);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 0.0f);
}

}  // namespace
}  // namespace nnkit
