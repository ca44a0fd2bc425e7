// Single-precision exp, log, sigmoid and tanh in plain arithmetic and bit moves, so that a
// loop calling them vectorises (#pragma omp simd): the activation kernels' and the recurrent
// layers' fused gate passes. Cephes's polynomials, about 1 ulp. Private to src/.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace nnkit::detail {

// e^x = 2^n · (1 + q), with n = round(x / ln 2), r = x − n·ln 2 in [−ln2/2, ln2/2] and
// q = e^r − 1 = r + r²·P(r), P being Cephes's minimax polynomial for expf (error ~1 ulp).
// Keeping q apart gives expm1 without cancellation near 0 (n = 0 there). x is clamped to
// [−87.3, 88.3] so 2^n stays a normal float: e^x below −87.3 comes out as ~1.2e-38 instead of
// a denormal (every caller adds it to 1 or to a sum ≥ 1), above 88.3 as 2.2e38 instead of inf
// (no caller passes positive x). NaN propagates. Only arithmetic and bit moves: vectorises.
struct ExpParts {
  float scale;  // 2^n
  float q;      // e^r − 1
};

inline ExpParts exp_parts(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;  // ln 2 = kLn2Hi + kLn2Lo, kLn2Hi exact in 9 bits
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer in the low bits
  x = std::min(std::max(x, -87.3f), 88.3f);
  float t = x * kLog2e + kRound;
  float n = t - kRound;
  float r = (x - n * kLn2Hi) - n * kLn2Lo;
  uint32_t biased = std::bit_cast<uint32_t>(t) - 0x4B400000u + 127u;  // n + 127, in [1, 254]
  float scale = std::bit_cast<float>(biased << 23);
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return {scale, p * (r * r) + r};
}

inline float fast_exp(float x) {
  ExpParts e = exp_parts(x);
  return e.scale + e.scale * e.q;
}

inline float fast_expm1(float x) {
  ExpParts e = exp_parts(x);
  return e.scale * e.q + (e.scale - 1.0f);
}

// log w for a positive normal w: w = m·2^e with m in [√½, √2), log w = e·ln 2 + log m, log m
// by Cephes's logf polynomial in m − 1.
inline float fast_log(float w) {
  uint32_t bits = std::bit_cast<uint32_t>(w);
  float e = static_cast<float>(static_cast<int32_t>((bits >> 23) & 0xffu) - 126);
  float m = std::bit_cast<float>((bits & 0x007fffffu) | 0x3f000000u);  // in [0.5, 1)
  bool low = m < 0.707106781186547524f;
  e = low ? e - 1.0f : e;
  m = low ? m + m - 1.0f : m - 1.0f;
  float z = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  float y = p * m * z;
  y += -2.12194440e-4f * e;
  y += -0.5f * z;
  return (m + y) + 0.693359375f * e;
}

// log(1 + u) for u ≥ 0. w = 1 + u loses u's low bits; (u − (w − 1)) / w puts them back to
// first order (the classic correction), so tiny u gives u.
inline float fast_log1p(float u) {
  float w = 1.0f + u;
  return fast_log(w) + (u - (w - 1.0f)) / w;
}

inline float fast_sigmoid(float x) {
  // e^−|x| never overflows; for x < 0, σ(x) = e^x / (1 + e^x) keeps its relative precision.
  float e = fast_exp(-std::fabs(x));
  float p = 1.0f / (1.0f + e);
  return x >= 0.0f ? p : e * p;
}

inline float fast_tanh(float x) {
  // Large |x|: (1 − e^−2|x|) / (1 + e^−2|x|), no overflow. Small |x| (< 0.625), where 1 − e
  // would cancel: Cephes's tanhf odd polynomial.
  float a = std::fabs(x);
  float e = fast_exp(-2.0f * a);
  float big = (1.0f - e) / (1.0f + e);
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = p * z * a + a;
  return std::copysign(a < 0.625f ? small : big, x);
}

}  // namespace nnkit::detail
