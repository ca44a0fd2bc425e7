#include "nnkit/kernels/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "parallel_loop.h"

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

// How many real cells the window starting at `start` (may be negative) of `size` covers.
inline int64_t real_cells(int64_t start, int64_t size, int64_t in) {
  return std::max<int64_t>(std::min(start + size, in) - std::max<int64_t>(start, 0), 0);
}

int64_t pool_work(const Pool2dGeometry& g) {
  return g.planes * (g.in_h * g.in_w + g.out_h * g.out_w * g.pool_h * g.pool_w);
}

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// One plane of max pooling. The window taps run outermost (row-major: kh, then kw) and the
// output columns innermost, so each tap is one branch-free, vectorisable pass over a row of
// outputs; strict `>` in that order keeps the first maximum. With kArgmax the winner's index
// is tracked too, and a window's first real cell is taken whatever its value (arg < 0), so a
// window of −inf still points at a real cell as PyTorch's does.
template <bool kArgmax>
void max_pool_plane(const Pool2dGeometry& g, const float* __restrict x, float* __restrict y,
                    int32_t* __restrict arg) {
  const int64_t out_w = g.out_w, stride_w = g.stride_w;
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
        const Range r = valid_outputs(offset, stride_w, g.in_w, out_w);
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
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  if (argmax != nullptr) {
    for_each_plane(g.planes, pool_work(g), [&](int64_t p) {
      max_pool_plane<true>(g, x + p * in_plane, y + p * out_plane, argmax + p * out_plane);
    });
  } else {
    for_each_plane(g.planes, pool_work(g), [&](int64_t p) {
      max_pool_plane<false>(g, x + p * in_plane, y + p * out_plane, nullptr);
    });
  }
}

void max_pool2d_backward(const Pool2dGeometry& g, const float* dy, const int32_t* argmax,
                         float* dx) {
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
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const int64_t out_w = g.out_w, stride_w = g.stride_w;
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
          const Range r = valid_outputs(offset, stride_w, g.in_w, out_w);
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
}

void avg_pool2d_backward(const Pool2dGeometry& g, const float* dy, float* dx) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
  const int64_t out_w = g.out_w, stride_w = g.stride_w;
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
          const Range r = valid_outputs(offset, stride_w, g.in_w, out_w);
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
