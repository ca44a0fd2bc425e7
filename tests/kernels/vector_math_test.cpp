#include "kernels/vector_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace nnkit {
namespace {

#ifdef __AVX512F__

// Distance from `got` to the exact value in units in the last place of the exact value, or in
// units of the smallest normal (1.2e-38) where that is larger: results under 1e-31 count as
// absolute error, as the activation kernels' tests take them. An exact value past the largest
// float rounds to it or to infinity.
double ulps(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0.0 : 1e30;
  if (std::fabs(want) > std::numeric_limits<float>::max()) {
    return std::fabs(got) >= std::numeric_limits<float>::max() && (got > 0) == (want > 0) ? 0.0
                                                                                          : 1e30;
  }
  // ilogb of a magnitude at least the smallest normal: ilogb(0) would be INT_MIN.
  const double normal = std::numeric_limits<float>::min();
  const double ulp =
      std::max(std::ldexp(1.0, std::ilogb(std::max(std::fabs(want), normal)) - 23), normal);
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

// Every 0.0007 over [−120, 120] (past both clamps), tiny magnitudes of both signs, the table's
// boundaries (k·ln2/16), and the specials.
std::vector<float> inputs() {
  std::vector<float> x;
  for (float v = -120.0f; v < 120.0f; v += 0.0007f) x.push_back(v);
  for (float v = 1e-30f; v < 1.0f; v *= 1.02f) {
    x.push_back(v);
    x.push_back(-v);
  }
  for (int k = -64; k <= 64; ++k) x.push_back(static_cast<float>(k * std::log(2.0) / 16));
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 0.625f, -0.625f,
                  88.7f, -88.7f, 89.0f, -104.0f})
    x.push_back(v);
  while (x.size() % 16 != 0) x.push_back(0.5f);
  return x;
}

template <typename F, typename Exact>
double worst_ulps(F f, Exact exact, float* worst_at) {
  const std::vector<float> x = inputs();
  double worst = 0.0;
  for (std::size_t i = 0; i < x.size(); i += 16) {
    alignas(64) float y[16];
    _mm512_store_ps(y, f(_mm512_loadu_ps(x.data() + i)));
    for (int lane = 0; lane < 16; ++lane) {
      const double u = ulps(y[lane], exact(static_cast<double>(x[i + lane])));
      if (u > worst) {
        worst = u;
        *worst_at = x[i + lane];
      }
    }
  }
  return worst;
}

TEST(VectorMath, Exp16IsWithinTwoUlp) {
  float at = 0.0f;
  const double worst = worst_ulps([](__m512 v) { return detail::exp16(v); },
                                  [](double v) { return std::exp(v); }, &at);
  EXPECT_LE(worst, 2.0) << "at x = " << at;
}

TEST(VectorMath, Sigmoid16IsWithinFourUlp) {
  float at = 0.0f;
  const double worst = worst_ulps([](__m512 v) { return detail::sigmoid16(v); },
                                  [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, &at);
  EXPECT_LE(worst, 4.0) << "at x = " << at;
}

TEST(VectorMath, Tanh16IsWithinTwoUlp) {
  float at = 0.0f;
  const double worst = worst_ulps([](__m512 v) { return detail::tanh16(v); },
                                  [](double v) { return std::tanh(v); }, &at);
  EXPECT_LE(worst, 2.0) << "at x = " << at;
}

TEST(VectorMath, LimitsAndSignsAreExact) {
  const float inf = std::numeric_limits<float>::infinity();
  alignas(64) const float x[16] = {inf,     -inf,    200.0f,
                                   -200.0f, 0.0f,    -0.0f,
                                   1e-30f,  -1e-30f, std::numeric_limits<float>::quiet_NaN()};
  alignas(64) float e[16], s[16], t[16];
  _mm512_store_ps(e, detail::exp16(_mm512_load_ps(x)));
  _mm512_store_ps(s, detail::sigmoid16(_mm512_load_ps(x)));
  _mm512_store_ps(t, detail::tanh16(_mm512_load_ps(x)));
  EXPECT_EQ(e[0], inf);
  EXPECT_EQ(e[1], 0.0f);
  EXPECT_EQ(e[2], inf);
  EXPECT_EQ(e[4], 1.0f);
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[1], 0.0f);
  EXPECT_EQ(s[3], 0.0f);
  EXPECT_EQ(s[4], 0.5f);
  EXPECT_EQ(t[0], 1.0f);
  EXPECT_EQ(t[1], -1.0f);
  EXPECT_EQ(t[2], 1.0f);
  EXPECT_EQ(t[3], -1.0f);
  EXPECT_TRUE(t[4] == 0.0f && !std::signbit(t[4]));
  EXPECT_TRUE(t[5] == 0.0f && std::signbit(t[5]));
  EXPECT_EQ(t[6], 1e-30f);
  EXPECT_EQ(t[7], -1e-30f);
  EXPECT_TRUE(std::isnan(e[8]) && std::isnan(s[8]) && std::isnan(t[8]));
}

#else

TEST(VectorMath, NeedsAvx512) { GTEST_SKIP() << "vector_math.h is built only with AVX-512"; }

#endif

}  // namespace
}  // namespace nnkit
