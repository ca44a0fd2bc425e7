// exp, sigmoid and tanh on 16 floats at once, in AVX-512 instructions that the scalar forms
// of fast_math.h cannot reach through the compiler's vectoriser: a 16-entry table held in one
// register (vpermps) and exact scaling by a power of two (vscalefps). The table cuts exp's
// polynomial from degree 6 to 3, so its dependency chain is about a third shorter: what a
// recurrent step's gate pass waits on (bench/README.md). About 2 ulp, as fast_math.h's; NaN
// propagates and ±inf give the limits. Private to src/; only with AVX-512.
#pragma once

#ifdef __AVX512F__

#include <immintrin.h>

#include <cstdint>

namespace nnkit::detail {

// Every lane. The zero-masked forms of min, max, roundscale, cvtps, permutexvar and scalef
// below compute the same as the plain ones, which GCC 12 gives an undefined vector as the
// masked-off source and then reports as uninitialised once inlined (GCC bug 105593).
constexpr __mmask16 kAll = 0xFFFF;

// The first min(n, 16) lanes: the mask of a loop's last, partial vector.
inline __mmask16 lanes16(int64_t n) {
  return n >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << n) - 1);
}

// e^x = 2^n · 2^(j/16) · (1 + q), with x·16/ln 2 rounded to k = 16n + j, r = x − k·ln2/16 in
// [−ln2/32, ln2/32] and q = e^r − 1 = r + r²/2 + r³/6 (the next term, r⁴/24 < 1e-8, is below
// float precision). 2^(j/16) comes from the table, and the 2^n scaling (vscalefps) goes last,
// so that overflow gives inf and underflow 0 without a NaN between. x is first clamped to
// [−104, 89]: past those e^x is 0 or infinite in float anyway, and r stays finite for ±inf.
inline __m512 exp16(__m512 x) {
  // 2^(j/16), j = 0..15, rounded to float.
  const __m512 table =
      _mm512_setr_ps(1.0f, 1.04427373f, 1.09050775f, 1.13878858f, 1.18920708f, 1.24185777f,
                     1.29683959f, 1.35425556f, 1.41421354f, 1.47682619f, 1.54221082f, 1.61049032f,
                     1.68179286f, 1.75625217f, 1.8340081f, 1.91520655f);
  constexpr float kSixteenOverLn2 = 23.0831206542234f;
  // ln 2 / 16 = hi + lo, hi in 12 significant bits: k·hi is exact for |k| < 2^12 (|x| ≤ 104).
  constexpr float kLn2Over16Hi = 0.0433197021484375f;
  constexpr float kLn2Over16Lo = 1.99663646e-6f;
  // max(c, x) and min(c, x) return x when x is NaN (the second operand), so NaN propagates.
  x = _mm512_maskz_min_ps(kAll, _mm512_set1_ps(89.0f),
                          _mm512_maskz_max_ps(kAll, _mm512_set1_ps(-104.0f), x));
  const __m512 k =
      _mm512_maskz_roundscale_ps(kAll, _mm512_mul_ps(x, _mm512_set1_ps(kSixteenOverLn2)),
                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Over16Hi), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Over16Lo), r);
  const __m512i j = _mm512_and_si512(_mm512_maskz_cvtps_epi32(kAll, k), _mm512_set1_epi32(15));
  const __m512 n = _mm512_maskz_roundscale_ps(kAll, _mm512_mul_ps(k, _mm512_set1_ps(1.0f / 16.0f)),
                                              _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f));
  const __m512 q = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  const __m512 t = _mm512_maskz_permutexvar_ps(kAll, j, table);
  return _mm512_maskz_scalef_ps(kAll, _mm512_fmadd_ps(t, q, t), n);
}

// 1 / (1 + e^−x): for x ≪ 0 e^−x is large and the quotient keeps its relative precision; past
// −89 e^−x is infinite and the result 0.
inline __m512 sigmoid16(__m512 x) {
  const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// As fast_tanh: (1 − e) / (1 + e) with e = e^(−2|x|) from |x| = 0.625, where 1 − e keeps its
// precision; Cephes's odd polynomial below; the sign of x put back. Both are computed and one
// is chosen: independent chains, so the choice costs no latency.
inline __m512 tanh16(__m512 x) {
  const __m512 sign_bit = _mm512_set1_ps(-0.0f);
  const __m512 a = _mm512_andnot_ps(sign_bit, x);
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp16(_mm512_mul_ps(a, _mm512_set1_ps(-2.0f)));
  const __m512 big = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
  const __m512 z = _mm512_mul_ps(a, a);
  __m512 p =
      _mm512_fmadd_ps(_mm512_set1_ps(-5.70498872745e-3f), z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), a, a);
  const __mmask16 is_small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm512_or_ps(_mm512_mask_blend_ps(is_small, big, small), _mm512_and_ps(x, sign_bit));
}

}  // namespace nnkit::detail

#endif  // __AVX512F__
