#include "nnkit/kernels/gemv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

#include "vector_math.h"

// GCC 12's shuffle and unpack intrinsics pass _mm512_undefined_ps() as the unused masked-off
// source, which -Wmaybe-uninitialized reports once inlined (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace nnkit {

namespace {

// Rows of the panel starting at row i0 of a packed [rows, ·] matrix, rounded up to 16.
int64_t panel_width(int64_t rows, int64_t i0) {
  return std::min(kPackedPanelRows, (rows - i0 + 15) / 16 * 16);
}

#ifdef __AVX512F__

// Lane r of the result is the sum of the 16 lanes of v[r]: 45 shuffles and adds for 16 dot
// products, against 16 × 9 for one horizontal sum each.
inline __m512 sum16(const __m512 v[16]) {
  __m512 t[8], u[4];
  // Per 128-bit block, lanes (0, 2) hold partial sums of v[2p] and lanes (1, 3) of v[2p + 1].
  for (int p = 0; p < 8; ++p)
    t[p] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * p], v[2 * p + 1]),
                         _mm512_unpackhi_ps(v[2 * p], v[2 * p + 1]));
  // Per 128-bit block b, lane r holds v[4q + r]'s sum over that block.
  for (int q = 0; q < 4; ++q) {
    const __m512d lo =
        _mm512_unpacklo_pd(_mm512_castps_pd(t[2 * q]), _mm512_castps_pd(t[2 * q + 1]));
    const __m512d hi =
        _mm512_unpackhi_pd(_mm512_castps_pd(t[2 * q]), _mm512_castps_pd(t[2 * q + 1]));
    u[q] = _mm512_add_ps(_mm512_castpd_ps(lo), _mm512_castpd_ps(hi));
  }
  // Add the four blocks of each u[q] into block q.
  __m512 x01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
  __m512 x23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(u[2], u[3], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(x01, x23, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(x01, x23, _MM_SHUFFLE(3, 1, 3, 1)));
}

void store(float* y, __m512 v, __mmask16 mask, bool accumulate) {
  if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, y));
  _mm512_mask_storeu_ps(y, mask, v);
}

// y[16·NV] (lanes past `last` in the last vector excluded) = Σ_i x[i] · a[i, 0:16·NV]: the
// broadcast-FMA form, no horizontal sums. Consecutive rows alternate between 2 accumulator
// sets (4 for narrow blocks) so that 16 FMAs can wait on their loads from L2 at once.
// 16 elements of a float or half-precision row, widened to float; lanes outside mask are 0.
inline __m512 load16(const float* p, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, p); }
inline __m512 load16(const uint16_t* p, __mmask16 mask) {
  return _mm512_maskz_cvtph_ps(0xFFFF, _mm256_maskz_loadu_epi16(mask, p));
}

template <int NV, typename T>
void axpy_rows(const T* a, int64_t lda, int64_t m, const float* x, float* y, __mmask16 last,
               bool accumulate) {
  constexpr int kSets = NV >= 3 ? 2 : 4;
  __m512 acc[kSets][NV];
  for (auto& set : acc)
    for (auto& v : set) v = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + kSets <= m; i += kSets) {
    for (int s = 0; s < kSets; ++s) {
      const T* row = a + (i + s) * lda;
      __m512 xb = _mm512_set1_ps(x[i + s]);
      for (int v = 0; v < NV - 1; ++v)
        acc[s][v] = _mm512_fmadd_ps(load16(row + 16 * v, 0xFFFF), xb, acc[s][v]);
      acc[s][NV - 1] = _mm512_fmadd_ps(load16(row + 16 * (NV - 1), last), xb, acc[s][NV - 1]);
    }
  }
  for (; i < m; ++i) {
    const T* row = a + i * lda;
    __m512 xb = _mm512_set1_ps(x[i]);
    for (int v = 0; v < NV; ++v)
      acc[0][v] = _mm512_fmadd_ps(load16(row + 16 * v, v == NV - 1 ? last : __mmask16{0xFFFF}), xb,
                                  acc[0][v]);
  }
  for (int s = 1; s < kSets; ++s)
    for (int v = 0; v < NV; ++v) acc[0][v] = _mm512_add_ps(acc[0][v], acc[s][v]);
  for (int v = 0; v < NV; ++v)
    store(y + 16 * v, acc[0][v], v == NV - 1 ? last : __mmask16{0xFFFF}, accumulate);
}

// axpy_rows over a block of nv (1..8) vectors, the width known only at run time.
template <typename T>
void axpy_rows(int nv, const T* a, int64_t lda, int64_t m, const float* x, float* y, __mmask16 last,
               bool accumulate) {
  switch (nv) {
    case 1:
      return axpy_rows<1, T>(a, lda, m, x, y, last, accumulate);
    case 2:
      return axpy_rows<2, T>(a, lda, m, x, y, last, accumulate);
    case 3:
      return axpy_rows<3, T>(a, lda, m, x, y, last, accumulate);
    case 4:
      return axpy_rows<4, T>(a, lda, m, x, y, last, accumulate);
    case 5:
      return axpy_rows<5, T>(a, lda, m, x, y, last, accumulate);
    case 6:
      return axpy_rows<6, T>(a, lda, m, x, y, last, accumulate);
    case 7:
      return axpy_rows<7, T>(a, lda, m, x, y, last, accumulate);
    default:
      return axpy_rows<8, T>(a, lda, m, x, y, last, accumulate);
  }
}

#endif  // __AVX512F__

// y[rows] = A·x[cols] (+ y) over a matrix packed by pack_rows(), its elements float or half.
template <typename T>
void packed_product(int64_t rows, int64_t cols, const T* data, const float* x, float* y,
                    bool accumulate, PanelDone panel_done) {
  for (int64_t i0 = 0; i0 < rows; i0 += kPackedPanelRows) {
    const int64_t width = panel_width(rows, i0), used = std::min(width, rows - i0);
    const T* panel = data + i0 * cols;
#ifdef __AVX512F__
    const int nv = static_cast<int>(width / 16);
    axpy_rows(nv, panel, width, cols, x, y + i0, detail::lanes16(used - 16 * (nv - 1)), accumulate);
#else
    float* out = y + i0;
    if (!accumulate) std::fill(out, out + used, 0.0f);
    for (int64_t j = 0; j < cols; ++j) {
      const float xj = x[j];
      if constexpr (std::is_same_v<T, float>) {
#pragma omp simd
        for (int64_t i = 0; i < used; ++i) out[i] += xj * panel[j * width + i];
      } else {
        for (int64_t i = 0; i < used; ++i) out[i] += xj * half_to_float(panel[j * width + i]);
      }
    }
#endif
    if (panel_done.call) panel_done.call(panel_done.context, i0, used);
  }
}

}  // namespace

bool gemv_is_vectorized() {
#ifdef __AVX512F__
  return true;
#else
  return false;
#endif
}

void gemv(int64_t m, int64_t k, const float* a, int64_t lda, const float* x, float* y,
          bool accumulate) {
#ifdef __AVX512F__
  // 16 rows at a time, one accumulator each, summed together by sum16(). Past the last row
  // the loads repeat that row and the store leaves the lanes out.
  for (int64_t i0 = 0; i0 < m; i0 += 16) {
    const int64_t rows = std::min<int64_t>(16, m - i0);
    const float* row[16];
    for (int r = 0; r < 16; ++r) row[r] = a + (i0 + std::min<int64_t>(r, rows - 1)) * lda;
    __m512 acc[16];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t j = 0; j < k; j += 16) {
      const __mmask16 mask = detail::lanes16(k - j);
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + j);
      for (int r = 0; r < 16; ++r)
        acc[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, row[r] + j), xv, acc[r]);
    }
    store(y + i0, sum16(acc), detail::lanes16(rows), accumulate);
  }
#else
  for (int64_t i = 0; i < m; ++i) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < k; ++j) sum += a[i * lda + j] * x[j];
    y[i] = accumulate ? y[i] + sum : sum;
  }
#endif
}

void gemv_transposed(int64_t m, int64_t k, const float* a, int64_t lda, const float* x, float* y,
                     bool accumulate) {
#ifdef __AVX512F__
  // Column blocks of up to 128 (eight vectors): each row of A times x[i], added into them.
  for (int64_t j0 = 0; j0 < k; j0 += 128) {
    const int64_t cols = std::min<int64_t>(128, k - j0);
    const int nv = static_cast<int>((cols + 15) / 16);
    axpy_rows(nv, a + j0, lda, m, x, y + j0, detail::lanes16(cols - 16 * (nv - 1)), accumulate);
  }
#else
  if (!accumulate) std::fill(y, y + k, 0.0f);
  for (int64_t i = 0; i < m; ++i) {
    const float xi = x[i];
#pragma omp simd
    for (int64_t j = 0; j < k; ++j) y[j] += xi * a[i * lda + j];
  }
#endif
}

void gemv_reference(int64_t m, int64_t k, const float* a, int64_t lda, const float* x, float* y,
                    bool accumulate) {
  for (int64_t i = 0; i < m; ++i) {
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) sum += static_cast<double>(a[i * lda + j]) * x[j];
    y[i] = static_cast<float>(accumulate ? y[i] + sum : sum);
  }
}

void gemv_transposed_reference(int64_t m, int64_t k, const float* a, int64_t lda, const float* x,
                               float* y, bool accumulate) {
  for (int64_t j = 0; j < k; ++j) {
    double sum = 0.0;
    for (int64_t i = 0; i < m; ++i) sum += static_cast<double>(a[i * lda + j]) * x[i];
    y[j] = static_cast<float>(accumulate ? y[j] + sum : sum);
  }
}

void pack_rows(const float* a, int64_t rows, int64_t cols, int64_t lda, PackedMatrix& packed) {
  const int64_t full = rows / kPackedPanelRows * kPackedPanelRows;
  packed.rows = rows;
  packed.cols = cols;
  packed.data.resize((full + (rows - full + 15) / 16 * 16) * cols);
#ifdef __AVX512F__
  // The gather offsets (16 rows) are 32-bit.
  const bool gather = lda <= std::numeric_limits<int32_t>::max() / 16;
#endif
  for (int64_t i0 = 0; i0 < rows; i0 += kPackedPanelRows) {
    const int64_t width = panel_width(rows, i0), used = std::min(width, rows - i0);
    float* panel = packed.data.data() + i0 * cols;
#ifdef __AVX512F__
    // Each 16-row slice of a panel column is one gather: a plain copy in either order strides
    // 512 bytes on one side, which maps its lines onto 8 of L1's 64 sets, and ran 7x slower.
    const __m512i offsets =
        _mm512_mullo_epi32(_mm512_set1_epi32(static_cast<int>(lda)),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    for (int64_t ib = 0; gather && ib < used; ib += 16) {
      const __mmask16 mask = detail::lanes16(used - ib);
      const float* src = a + (i0 + ib) * lda;
      for (int64_t j = 0; j < cols; ++j)
        _mm512_store_ps(panel + j * width + ib,
                        _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, offsets, src + j, 4));
    }
    if (!gather)
#endif
      for (int64_t i = 0; i < used; ++i)
        for (int64_t j = 0; j < cols; ++j) panel[j * width + i] = a[(i0 + i) * lda + j];
    for (int64_t j = 0; j < cols; ++j)
      std::fill(panel + j * width + used, panel + (j + 1) * width, 0.0f);
  }
}

void gemv_packed(const PackedMatrix& a, const float* x, float* y, bool accumulate,
                 PanelDone panel_done) {
  packed_product(a.rows, a.cols, a.data.data(), x, y, accumulate, panel_done);
}

void gemv_transposed_packed(const PackedMatrix& a, const float* x, float* y, bool accumulate) {
#ifdef __AVX512F__
  // 16 outputs (columns of A) at a time, accumulated over every panel before one sum16().
  // Past the last column the loads repeat that column and the store leaves the lanes out;
  // x is read only up to a.rows (the padding rows of the panels are zero anyway).
  for (int64_t j0 = 0; j0 < a.cols; j0 += 16) {
    const int64_t cols = std::min<int64_t>(16, a.cols - j0);
    __m512 acc[16];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int64_t i0 = 0; i0 < a.rows; i0 += kPackedPanelRows) {
      const int64_t width = panel_width(a.rows, i0);
      const float* panel = a.data.data() + i0 * a.cols;
      int64_t column[16];
      for (int r = 0; r < 16; ++r) column[r] = (j0 + std::min<int64_t>(r, cols - 1)) * width;
      for (int64_t v = 0; v < width; v += 16) {
        const __m512 xv = _mm512_maskz_loadu_ps(detail::lanes16(a.rows - i0 - v), x + i0 + v);
        for (int r = 0; r < 16; ++r)
          acc[r] = _mm512_fmadd_ps(_mm512_load_ps(panel + column[r] + v), xv, acc[r]);
      }
    }
    store(y + j0, sum16(acc), detail::lanes16(cols), accumulate);
  }
#else
  if (!accumulate) std::fill(y, y + a.cols, 0.0f);
  for (int64_t i0 = 0; i0 < a.rows; i0 += kPackedPanelRows) {
    const int64_t width = panel_width(a.rows, i0), used = std::min(width, a.rows - i0);
    const float* panel = a.data.data() + i0 * a.cols;
    for (int64_t j = 0; j < a.cols; ++j) {
      float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
      for (int64_t i = 0; i < used; ++i) sum += panel[j * width + i] * x[i0 + i];
      y[j] += sum;
    }
  }
#endif
}

uint16_t float_to_half(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  bits &= 0x7FFFFFFFu;
  if (bits > 0x7F800000u) return sign | 0x7E00u;   // NaN stays NaN (quiet)
  if (bits >= 0x477FF000u) return sign | 0x7C00u;  // from 65520 (halfway past 65504): infinity
  if (bits < 0x38800000u) {
    // Under 2⁻¹⁴: a multiple of 2⁻²⁴ (subnormal, or the smallest normal when it rounds up).
    // The product is exact, and nearbyint rounds ties to even in the default rounding mode.
    float magnitude;
    std::memcpy(&magnitude, &bits, sizeof magnitude);
    return sign | static_cast<uint16_t>(std::nearbyint(magnitude * 16777216.0f));
  }
  // Normal: the exponent rebiased (127 to 15), 13 significand bits rounded off, ties to even.
  const uint32_t rebiased = bits - 0x38000000u;
  return sign | static_cast<uint16_t>((rebiased + 0xFFFu + ((rebiased >> 13) & 1u)) >> 13);
}

float half_to_float(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1Fu, significand = half & 0x3FFu;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(significand), -24);
    return sign ? -magnitude : magnitude;
  }
  const uint32_t bits =
      sign | (exponent == 31 ? 0x7F800000u : (exponent + 112) << 23) | (significand << 13);
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

void to_half(const PackedMatrix& packed, HalfPackedMatrix& half) {
  half.rows = packed.rows;
  half.cols = packed.cols;
  half.data.resize(packed.data.size());
  const std::size_t n = packed.data.size();
  std::size_t i = 0;
#ifdef __AVX512F__
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(half.data.data() + i),
                        _mm512_maskz_cvtps_ph(0xFFFF, _mm512_loadu_ps(packed.data.data() + i),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
  for (; i < n; ++i) half.data[i] = float_to_half(packed.data[i]);
}

void gemv_packed_half(const HalfPackedMatrix& a, const float* x, float* y, bool accumulate,
                      PanelDone panel_done) {
  packed_product(a.rows, a.cols, a.data.data(), x, y, accumulate, panel_done);
}

}  // namespace nnkit
