#include "nnkit/kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "parallel_loop.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

// GCC 12's permute and mask intrinsics pass _mm512_undefined_ps() as the unused masked-off
// source, which -Wmaybe-uninitialized reports once inlined (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace nnkit {

namespace {

// Calls body(p) for every plane, split over OpenMP threads when `work` (about the number of
// values read and written) is large enough to pay for a parallel region. A plain branch rather
// than an `if` clause, as in parallel_loop.h: a false `if` still enters the runtime.
template <typename Body>
void for_each_plane(int64_t planes, int64_t work, Body body) {
  if (work > detail::kParallelElements && planes > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < planes; ++p) body(p);
  } else {
    for (int64_t p = 0; p < planes; ++p) body(p);
  }
}

// The outputs [lo, hi) along an axis for which input index o·stride + offset lies in [0, in):
// a window tap `offset` = k − pad_before reads real cells only for these outputs, so the
// inner loops need no bounds test.
struct Range {
  int64_t lo, hi;
};
Range valid_outputs(int64_t offset, int64_t stride, int64_t in, int64_t out) {
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t hi = in - 1 - offset < 0 ? 0 : std::min(out, (in - 1 - offset) / stride + 1);
  return {std::min(lo, hi), hi};
}

// valid_outputs() of every column tap kw, computed once per call: the divisions cost more than
// a short row of outputs if done per row.
std::vector<Range> column_ranges(const Pool2dGeometry& g) {
  std::vector<Range> ranges(g.pool_w);
  for (int64_t kw = 0; kw < g.pool_w; ++kw) {
    ranges[kw] = valid_outputs(kw - g.pad_left, g.stride_w, g.in_w, g.out_w);
  }
  return ranges;
}

// How many real cells the window starting at `start` (may be negative) of `size` covers.
inline int64_t real_cells(int64_t start, int64_t size, int64_t in) {
  return std::max<int64_t>(std::min(start + size, in) - std::max<int64_t>(start, 0), 0);
}

int64_t pool_work(const Pool2dGeometry& g) {
  return g.planes * (g.in_h * g.in_w + g.out_h * g.out_w * g.pool_h * g.pool_w);
}

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// Calls f with std::integral_constant<int, s> for a column stride s of 1 or 2, and with 0
// (stride known at run time only) otherwise: with the stride a constant, the strided rows of
// the general loops compile to plain or deinterleaving vector loads instead of gathers
// (about 30% faster for pool 3 at strides 1 and 2, bench/README.md).
template <typename F>
void with_stride(int64_t stride, F f) {
  if (stride == 1) return f(std::integral_constant<int, 1>{});
  if (stride == 2) return f(std::integral_constant<int, 2>{});
  f(std::integral_constant<int, 0>{});
}

// ---- The 2×2, stride-2 windows without padding (most CNNs' pooling, the Fashion-MNIST CNN's):
// output row oh reads input rows 2·oh and 2·oh + 1 whole, so the row functions below see two
// contiguous rows, where the general loops see one short strided pass per window tap (7 or 14
// outputs for 14- or 28-wide images: too short for a vector loop to pay). The same values as
// the general path: the same comparisons in the same order, the same additions (the tests
// check both against one reference).

bool is_2x2_stride2(const Pool2dGeometry& g) {
  return g.pool_h == 2 && g.pool_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_top == 0 &&
         g.pad_left == 0 && 2 * g.out_h <= g.in_h && 2 * g.out_w <= g.in_w;
}

#ifdef __AVX512F__

__mmask16 first_lanes(int64_t n) {
  if (n <= 0) return 0;
  return n >= 16 ? __mmask16{0xFFFF} : static_cast<__mmask16>((1u << n) - 1);
}

// Columns [0, 2n) of row r (n <= 16 pairs) as its even and its odd columns.
inline void load_pairs(const float* r, int64_t n, __m512& even, __m512& odd) {
  const __m512i even_lanes =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_lanes =
      _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 lo = _mm512_maskz_loadu_ps(first_lanes(2 * n), r);
  const __m512 hi = _mm512_maskz_loadu_ps(first_lanes(2 * n - 16), r + 16);
  even = _mm512_permutex2var_ps(lo, even_lanes, hi);
  odd = _mm512_permutex2var_ps(lo, odd_lanes, hi);
}

// The inverse: writes even and odd interleaved to columns [0, 2n) of row r.
inline void store_pairs(float* r, int64_t n, __m512 even, __m512 odd) {
  const __m512i lo_lanes =
      _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_lanes =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  _mm512_mask_storeu_ps(r, first_lanes(2 * n), _mm512_permutex2var_ps(even, lo_lanes, odd));
  _mm512_mask_storeu_ps(r + 16, first_lanes(2 * n - 16),
                        _mm512_permutex2var_ps(even, hi_lanes, odd));
}

// The general path's `v > best || v != v`.
inline __mmask16 wins(__m512 v, __m512 best) {
  return _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
}

// One output row from input rows a (top) and b: taps in row-major order a even, a odd, b even,
// b odd; argmax, when kept, is base (the index of a[0] in its plane) + 2·j + the tap's offset.
template <bool kArgmax>
void max_pool_2x2_row(const float* a, const float* b, int64_t out_w, int32_t base, int32_t in_w,
                      float* y, int32_t* arg) {
  const __m512i two_j =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t j0 = 0; j0 < out_w; j0 += 16) {
    const int64_t n = std::min<int64_t>(16, out_w - j0);
    __m512 a_even, a_odd, b_even, b_odd;
    load_pairs(a + 2 * j0, n, a_even, a_odd);
    load_pairs(b + 2 * j0, n, b_even, b_odd);
    __m512 best = a_even;
    const __mmask16 t1 = wins(a_odd, best);
    best = _mm512_mask_mov_ps(best, t1, a_odd);
    const __mmask16 t2 = wins(b_even, best);
    best = _mm512_mask_mov_ps(best, t2, b_even);
    const __mmask16 t3 = wins(b_odd, best);
    best = _mm512_mask_mov_ps(best, t3, b_odd);
    _mm512_mask_storeu_ps(y + j0, first_lanes(n), best);
    if constexpr (kArgmax) {
      __m512i offset = _mm512_setzero_si512();
      offset = _mm512_mask_mov_epi32(offset, t1, _mm512_set1_epi32(1));
      offset = _mm512_mask_mov_epi32(offset, t2, _mm512_set1_epi32(in_w));
      offset = _mm512_mask_mov_epi32(offset, t3, _mm512_set1_epi32(in_w + 1));
      const __m512i index = _mm512_add_epi32(
          _mm512_add_epi32(_mm512_set1_epi32(base + 2 * static_cast<int32_t>(j0)), two_j), offset);
      _mm512_mask_storeu_epi32(arg + j0, first_lanes(n), index);
    }
  }
}

// dx rows a and b of one output row: dy[j] to the cell argmax[j] names, 0 to the other three.
void max_pool_2x2_backward_row(const float* dy, const int32_t* arg, int64_t out_w, int32_t base,
                               int32_t in_w, float* a, float* b) {
  const __m512i two_j =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i top_left = _mm512_setzero_si512(), top_right = _mm512_set1_epi32(1);
  const __m512i bottom_left = _mm512_set1_epi32(in_w), bottom_right = _mm512_set1_epi32(in_w + 1);
  for (int64_t j0 = 0; j0 < out_w; j0 += 16) {
    const int64_t n = std::min<int64_t>(16, out_w - j0);
    const __m512 d = _mm512_maskz_loadu_ps(first_lanes(n), dy + j0);
    const __m512i w = _mm512_maskz_loadu_epi32(first_lanes(n), arg + j0);
    // Which cell of its window each argmax names: 0, 1, in_w or in_w + 1.
    const __m512i cell = _mm512_sub_epi32(
        w, _mm512_add_epi32(_mm512_set1_epi32(base + 2 * static_cast<int32_t>(j0)), two_j));
    store_pairs(a + 2 * j0, n, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(cell, top_left), d),
                _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(cell, top_right), d));
    store_pairs(b + 2 * j0, n, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(cell, bottom_left), d),
                _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(cell, bottom_right), d));
  }
}

// ((a even + a odd) + b even) + b odd, then / 4: the general path's order of additions.
void avg_pool_2x2_row(const float* a, const float* b, int64_t out_w, float* y) {
  for (int64_t j0 = 0; j0 < out_w; j0 += 16) {
    const int64_t n = std::min<int64_t>(16, out_w - j0);
    __m512 a_even, a_odd, b_even, b_odd;
    load_pairs(a + 2 * j0, n, a_even, a_odd);
    load_pairs(b + 2 * j0, n, b_even, b_odd);
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a_even, a_odd), b_even), b_odd);
    _mm512_mask_storeu_ps(y + j0, first_lanes(n), _mm512_div_ps(sum, _mm512_set1_ps(4.0f)));
  }
}

// dy[j] / 4 to the four cells of window j.
void avg_pool_2x2_backward_row(const float* dy, int64_t out_w, float* a, float* b) {
  for (int64_t j0 = 0; j0 < out_w; j0 += 16) {
    const int64_t n = std::min<int64_t>(16, out_w - j0);
    const __m512 g =
        _mm512_div_ps(_mm512_maskz_loadu_ps(first_lanes(n), dy + j0), _mm512_set1_ps(4.0f));
    store_pairs(a + 2 * j0, n, g, g);
    store_pairs(b + 2 * j0, n, g, g);
  }
}

#else  // portable versions of the same row functions

template <bool kArgmax>
void max_pool_2x2_row(const float* __restrict a, const float* __restrict b, int64_t out_w,
                      int32_t base, int32_t in_w, float* __restrict y, int32_t* __restrict arg) {
#pragma omp simd
  for (int64_t j = 0; j < out_w; ++j) {
    const int32_t top_left = base + 2 * static_cast<int32_t>(j);
    float best = a[2 * j];
    int32_t offset = 0;
    const float taps[3] = {a[2 * j + 1], b[2 * j], b[2 * j + 1]};
    const int32_t offsets[3] = {1, in_w, in_w + 1};
    for (int t = 0; t < 3; ++t) {
      const bool take = taps[t] > best || taps[t] != taps[t];
      best = take ? taps[t] : best;
      offset = take ? offsets[t] : offset;
    }
    y[j] = best;
    if constexpr (kArgmax) arg[j] = top_left + offset;
  }
}

void max_pool_2x2_backward_row(const float* __restrict dy, const int32_t* __restrict arg,
                               int64_t out_w, int32_t base, int32_t in_w, float* __restrict a,
                               float* __restrict b) {
#pragma omp simd
  for (int64_t j = 0; j < out_w; ++j) {
    const int32_t offset = arg[j] - (base + 2 * static_cast<int32_t>(j));
    a[2 * j] = offset == 0 ? dy[j] : 0.0f;
    a[2 * j + 1] = offset == 1 ? dy[j] : 0.0f;
    b[2 * j] = offset == in_w ? dy[j] : 0.0f;
    b[2 * j + 1] = offset == in_w + 1 ? dy[j] : 0.0f;
  }
}

void avg_pool_2x2_row(const float* __restrict a, const float* __restrict b, int64_t out_w,
                      float* __restrict y) {
#pragma omp simd
  for (int64_t j = 0; j < out_w; ++j)
    y[j] = (((a[2 * j] + a[2 * j + 1]) + b[2 * j]) + b[2 * j + 1]) / 4.0f;
}

void avg_pool_2x2_backward_row(const float* __restrict dy, int64_t out_w, float* __restrict a,
                               float* __restrict b) {
#pragma omp simd
  for (int64_t j = 0; j < out_w; ++j) {
    const float g = dy[j] / 4.0f;
    a[2 * j] = a[2 * j + 1] = b[2 * j] = b[2 * j + 1] = g;
  }
}

#endif  // __AVX512F__

// Plane loops of the 2×2 path. Backward writes every cell of dx: the windows' cells by the row
// functions, the column and row an odd size leaves out (valid padding) as zeros.
void max_pool_2x2(const Pool2dGeometry& g, const float* x, float* y, int32_t* argmax) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const int32_t in_w = static_cast<int32_t>(g.in_w);
  for_each_plane(g.planes, g.planes * (in_plane + out_plane), [&](int64_t p) {
    const float* xp = x + p * in_plane;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const float* a = xp + 2 * oh * g.in_w;
      const int64_t o = p * out_plane + oh * g.out_w;
      const int32_t base = static_cast<int32_t>(2 * oh * g.in_w);
      if (argmax != nullptr) {
        max_pool_2x2_row<true>(a, a + g.in_w, g.out_w, base, in_w, y + o, argmax + o);
      } else {
        max_pool_2x2_row<false>(a, a + g.in_w, g.out_w, base, in_w, y + o, nullptr);
      }
    }
  });
}

template <typename Rows>
void backward_2x2(const Pool2dGeometry& g, float* dx, Rows rows) {
  const int64_t in_plane = g.in_h * g.in_w;
  const int64_t covered = 2 * g.out_w;  // columns the windows cover; the rest get zeros
  for_each_plane(g.planes, g.planes * in_plane, [&](int64_t p) {
    float* dxp = dx + p * in_plane;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      float* a = dxp + 2 * oh * g.in_w;
      rows(p, oh, a, a + g.in_w);
      if (covered < g.in_w) {
        std::fill(a + covered, a + g.in_w, 0.0f);
        std::fill(a + g.in_w + covered, a + 2 * g.in_w, 0.0f);
      }
    }
    std::fill(dxp + 2 * g.out_h * g.in_w, dxp + in_plane, 0.0f);
  });
}

void max_pool_2x2_backward(const Pool2dGeometry& g, const float* dy, const int32_t* argmax,
                           float* dx) {
  const int32_t in_w = static_cast<int32_t>(g.in_w);
  backward_2x2(g, dx, [&](int64_t p, int64_t oh, float* a, float* b) {
    const int64_t o = (p * g.out_h + oh) * g.out_w;
    max_pool_2x2_backward_row(dy + o, argmax + o, g.out_w, static_cast<int32_t>(2 * oh * g.in_w),
                              in_w, a, b);
  });
}

void avg_pool_2x2(const Pool2dGeometry& g, const float* x, float* y) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  for_each_plane(g.planes, g.planes * (in_plane + out_plane), [&](int64_t p) {
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const float* a = x + p * in_plane + 2 * oh * g.in_w;
      avg_pool_2x2_row(a, a + g.in_w, g.out_w, y + p * out_plane + oh * g.out_w);
    }
  });
}

void avg_pool_2x2_backward(const Pool2dGeometry& g, const float* dy, float* dx) {
  backward_2x2(g, dx, [&](int64_t p, int64_t oh, float* a, float* b) {
    avg_pool_2x2_backward_row(dy + (p * g.out_h + oh) * g.out_w, g.out_w, a, b);
  });
}

// One plane of max pooling. The window taps run outermost (row-major: kh, then kw) and the
// output columns innermost, so each tap is one branch-free, vectorisable pass over a row of
// outputs; strict `>` in that order keeps the first maximum. With kArgmax the winner's index
// is tracked too, and a window's first real cell is taken whatever its value (arg < 0), so a
// window of −inf still points at a real cell as PyTorch's does.
template <bool kArgmax, int kStride>
void max_pool_plane(const Pool2dGeometry& g, const Range* columns, const float* __restrict x,
                    float* __restrict y, int32_t* __restrict arg) {
  const int64_t out_w = g.out_w, stride_w = kStride > 0 ? kStride : g.stride_w;
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    float* __restrict yr = y + oh * out_w;
    int32_t* __restrict ar = kArgmax ? arg + oh * out_w : nullptr;
    std::fill_n(yr, out_w, kMinusInf);
    if constexpr (kArgmax) std::fill_n(ar, out_w, int32_t{-1});
    for (int64_t kh = 0; kh < g.pool_h; ++kh) {
      const int64_t ih = oh * g.stride_h - g.pad_top + kh;
      if (ih < 0 || ih >= g.in_h) continue;
      const float* __restrict xr = x + ih * g.in_w;
      for (int64_t kw = 0; kw < g.pool_w; ++kw) {
        const int64_t offset = kw - g.pad_left;
        const Range r = columns[kw];
        if constexpr (kArgmax) {
          const int32_t base = static_cast<int32_t>(ih * g.in_w + offset);
          const int32_t step = static_cast<int32_t>(stride_w);
#pragma omp simd
          for (int64_t ow = r.lo; ow < r.hi; ++ow) {
            const float v = xr[ow * stride_w + offset];
            const float current = yr[ow];
            const int32_t current_arg = ar[ow];
            const bool take = v > current || v != v || current_arg < 0;
            yr[ow] = take ? v : current;
            ar[ow] = take ? base + static_cast<int32_t>(ow) * step : current_arg;
          }
        } else {
#pragma omp simd
          for (int64_t ow = r.lo; ow < r.hi; ++ow) {
            const float v = xr[ow * stride_w + offset];
            const float current = yr[ow];
            yr[ow] = v > current || v != v ? v : current;
          }
        }
      }
    }
  }
}

}  // namespace

PoolAxis pool_axis_valid(int64_t in, int64_t pool, int64_t stride) {
  if (pool > in) return {0, 0};
  return {(in - pool) / stride + 1, 0};
}

PoolAxis pool_axis_same(int64_t in, int64_t pool, int64_t stride) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + pool - in, 0);
  return {out, total / 2};
}

void max_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y, int32_t* argmax) {
  if (is_2x2_stride2(g)) return max_pool_2x2(g, x, y, argmax);
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const std::vector<Range> columns = column_ranges(g);
  with_stride(g.stride_w, [&](auto stride) {
    constexpr int kStride = decltype(stride)::value;
    for_each_plane(g.planes, pool_work(g), [&](int64_t p) {
      if (argmax != nullptr) {
        max_pool_plane<true, kStride>(g, columns.data(), x + p * in_plane, y + p * out_plane,
                                      argmax + p * out_plane);
      } else {
        max_pool_plane<false, kStride>(g, columns.data(), x + p * in_plane, y + p * out_plane,
                                       nullptr);
      }
    });
  });
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* dy, const int32_t* argmax,
                         float* dx) {
  // Rows of fewer than 8 outputs leave most of each 16-lane store masked off, and writing dx
  // that way measured slower than clearing the plane and scattering (64×14×14 at batch 64,
  // one thread: 290 µs against 215 µs; 32×28×28: 410 µs against 520 µs).
  if (is_2x2_stride2(g) && g.out_w >= 8) return max_pool_2x2_backward(g, dy, argmax, dx);
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  for_each_plane(g.planes, g.planes * (in_plane + out_plane), [&](int64_t p) {
    float* __restrict dxp = dx + p * in_plane;
    const float* __restrict dyp = dy + p * out_plane;
    const int32_t* __restrict ap = argmax + p * out_plane;
    std::fill_n(dxp, in_plane, 0.0f);
    for (int64_t o = 0; o < out_plane; ++o) {
      if (ap[o] >= 0) dxp[ap[o]] += dyp[o];
    }
  });
}

void avg_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y) {
  if (is_2x2_stride2(g)) return avg_pool_2x2(g, x, y);
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const std::vector<Range> columns = column_ranges(g);
  with_stride(g.stride_w, [&](auto stride) {
    const int64_t out_w = g.out_w;
    constexpr int kStride = decltype(stride)::value;
    const int64_t stride_w = kStride > 0 ? kStride : g.stride_w;
    for_each_plane(g.planes, pool_work(g), [&](int64_t p) {
      const float* __restrict xp = x + p * in_plane;
      float* __restrict yp = y + p * out_plane;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        float* __restrict yr = yp + oh * out_w;
        std::fill_n(yr, out_w, 0.0f);
        const int64_t row_start = oh * g.stride_h - g.pad_top;
        for (int64_t kh = 0; kh < g.pool_h; ++kh) {
          const int64_t ih = row_start + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          const float* __restrict xr = xp + ih * g.in_w;
          for (int64_t kw = 0; kw < g.pool_w; ++kw) {
            const int64_t offset = kw - g.pad_left;
            const Range r = columns[kw];
#pragma omp simd
            for (int64_t ow = r.lo; ow < r.hi; ++ow) yr[ow] += xr[ow * stride_w + offset];
          }
        }
        const int64_t rows = real_cells(row_start, g.pool_h, g.in_h);
#pragma omp simd
        for (int64_t ow = 0; ow < out_w; ++ow) {
          const int64_t count = rows * real_cells(ow * stride_w - g.pad_left, g.pool_w, g.in_w);
          yr[ow] = count > 0 ? yr[ow] / static_cast<float>(count) : 0.0f;
        }
      }
    });
  });
}

void avg_pool2d_backward(const Pool2dGeometry& g, const float* dy, float* dx) {
  if (is_2x2_stride2(g)) return avg_pool_2x2_backward(g, dy, dx);
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const std::vector<Range> columns = column_ranges(g);
  with_stride(g.stride_w, [&](auto stride) {
    const int64_t out_w = g.out_w;
    constexpr int kStride = decltype(stride)::value;
    const int64_t stride_w = kStride > 0 ? kStride : g.stride_w;
    for_each_plane(g.planes, pool_work(g), [&](int64_t p) {
      const float* __restrict dyp = dy + p * out_plane;
      float* __restrict dxp = dx + p * in_plane;
      std::fill_n(dxp, in_plane, 0.0f);
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        const float* __restrict dyr = dyp + oh * out_w;
        const int64_t row_start = oh * g.stride_h - g.pad_top;
        const int64_t rows = real_cells(row_start, g.pool_h, g.in_h);
        for (int64_t kh = 0; kh < g.pool_h; ++kh) {
          const int64_t ih = row_start + kh;
          if (ih < 0 || ih >= g.in_h) continue;
          float* __restrict dxr = dxp + ih * g.in_w;
          for (int64_t kw = 0; kw < g.pool_w; ++kw) {
            const int64_t offset = kw - g.pad_left;
            const Range r = columns[kw];
            // Within one tap distinct outputs hit distinct inputs (stride >= 1), so the
            // scattered adds of a vector never collide.
#pragma omp simd
            for (int64_t ow = r.lo; ow < r.hi; ++ow) {
              const int64_t count = rows * real_cells(ow * stride_w - g.pad_left, g.pool_w, g.in_w);
              dxr[ow * stride_w + offset] += dyr[ow] / static_cast<float>(count);
            }
          }
        }
      }
    });
  });
}

void global_avg_pool_forward(int64_t planes, int64_t plane_size, const float* x, float* y) {
  for_each_plane(planes, planes * plane_size, [&](int64_t p) {
    const float* __restrict xp = x + p * plane_size;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < plane_size; ++i) sum += xp[i];
    y[p] = sum / static_cast<float>(plane_size);
  });
}

void global_avg_pool_backward(int64_t planes, int64_t plane_size, const float* dy, float* dx) {
  for_each_plane(planes, planes * plane_size, [&](int64_t p) {
    std::fill_n(dx + p * plane_size, plane_size, dy[p] / static_cast<float>(plane_size));
  });
}

void global_max_pool_forward(int64_t planes, int64_t plane_size, const float* x, float* y,
                             int32_t* argmax) {
  for_each_plane(planes, planes * plane_size, [&](int64_t p) {
    const float* __restrict xp = x + p * plane_size;
    float best = kMinusInf;
    int32_t best_index = plane_size > 0 ? 0 : -1;
    for (int64_t i = 0; i < plane_size; ++i) {
      if (xp[i] > best || std::isnan(xp[i])) {
        best = xp[i];
        best_index = static_cast<int32_t>(i);
      }
    }
    y[p] = best;
    if (argmax != nullptr) argmax[p] = best_index;
  });
}

void global_max_pool_backward(int64_t planes, int64_t plane_size, const float* dy,
                              const int32_t* argmax, float* dx) {
  for_each_plane(planes, planes * plane_size, [&](int64_t p) {
    float* dxp = dx + p * plane_size;
    std::fill_n(dxp, plane_size, 0.0f);
    if (argmax[p] >= 0) dxp[argmax[p]] = dy[p];
  });
}

void zero_pad2d_forward(int64_t planes, int64_t h, int64_t w, const Pad2d& pad, const float* x,
                        float* y) {
  const int64_t out_w = pad.left + w + pad.right;
  const int64_t out_plane = (pad.top + h + pad.bottom) * out_w;
  for_each_plane(planes, planes * out_plane, [&](int64_t p) {
    const float* __restrict xp = x + p * h * w;
    float* __restrict yp = y + p * out_plane;
    std::fill_n(yp, pad.top * out_w, 0.0f);
    for (int64_t r = 0; r < h; ++r) {
      float* yr = yp + (pad.top + r) * out_w;
      std::fill_n(yr, pad.left, 0.0f);
      std::copy_n(xp + r * w, w, yr + pad.left);
      std::fill_n(yr + pad.left + w, pad.right, 0.0f);
    }
    std::fill_n(yp + (pad.top + h) * out_w, pad.bottom * out_w, 0.0f);
  });
}

void zero_pad2d_backward(int64_t planes, int64_t h, int64_t w, const Pad2d& pad, const float* dy,
                         float* dx) {
  const int64_t out_w = pad.left + w + pad.right;
  const int64_t out_plane = (pad.top + h + pad.bottom) * out_w;
  for_each_plane(planes, planes * h * w, [&](int64_t p) {
    const float* __restrict dyp = dy + p * out_plane;
    float* __restrict dxp = dx + p * h * w;
    for (int64_t r = 0; r < h; ++r) {
      std::copy_n(dyp + (pad.top + r) * out_w + pad.left, w, dxp + r * w);
    }
  });
}

void scale_planes(int64_t planes, int64_t plane_size, const float* scale, const float* x,
                  float* y) {
  for_each_plane(planes, planes * plane_size, [&](int64_t p) {
    const float s = scale[p];
    const float* xp = x + p * plane_size;
    float* yp = y + p * plane_size;
#pragma omp simd
    for (int64_t i = 0; i < plane_size; ++i) yp[i] = xp[i] * s;
  });
}

}  // namespace nnkit
