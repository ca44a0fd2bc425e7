#include "nnkit/kernels/activations.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fast_math.h"
#include "fmt/format.h"
#include "nnkit/error.h"
#include "parallel_loop.h"
#include "vector_math.h"

namespace nnkit {

namespace {

using detail::fast_exp;
using detail::fast_expm1;
using detail::fast_log1p;
using detail::fast_sigmoid;
using detail::fast_tanh;

// Below this many elements a parallel region costs more than it saves. The if clauses name
// `parallel`: on a combined `parallel for simd`, an unqualified if applies to the simd
// construct too, and small arrays would run scalar (4x slower, measured).
constexpr int64_t kParallelThreshold = 1 << 15;

constexpr const char* kNames[] = {"linear",     "sigmoid",  "tanh",         "relu",
                                  "leaky_relu", "elu",      "selu",         "swish",
                                  "softplus",   "softsign", "hard_sigmoid", "softmax"};

template <typename F>
void map1(int64_t n, const float* a, float* out, F f) {
  detail::simd_for(n, [&](int64_t i) { out[i] = f(a[i]); });
}

template <typename F>
void map2(int64_t n, const float* a, const float* b, float* out, F f) {
  detail::simd_for(n, [&](int64_t i) { out[i] = f(a[i], b[i]); });
}

template <typename F>
void map3(int64_t n, const float* a, const float* b, const float* c, float* out, F f) {
  detail::simd_for(n, [&](int64_t i) { out[i] = f(a[i], b[i], c[i]); });
}

#ifdef __AVX512F__
// out = f(a), 16 lanes at a time through vector_math.h's functions (the last vector masked):
// sigmoid and swish 1.6 times, tanh 1.3 times the throughput of the vectorised scalar forms
// (activations_bench, one thread).
template <typename F16>
void map16(int64_t n, const float* a, float* out, F16 f) {
  const int64_t vectors = (n + 15) / 16;
  const auto body = [&](int64_t v) {
    const int64_t i = 16 * v;
    const __mmask16 mask = detail::lanes16(n - i);
    _mm512_mask_storeu_ps(out + i, mask, f(_mm512_maskz_loadu_ps(mask, a + i)));
  };
  if (n > detail::kParallelElements) {
#pragma omp parallel for
    for (int64_t v = 0; v < vectors; ++v) body(v);
  } else {
    for (int64_t v = 0; v < vectors; ++v) body(v);
  }
}
#endif

// max(x, 0) + log1p(e^−|x|), in blocks of two loops: fused into one loop, GCC 12's partial
// redundancy elimination carries exp's clamp constant into log1p and the loop no longer
// vectorises; through a small buffer both loops do. Blocks keep y = x (in place) correct.
void softplus_forward(int64_t n, const float* x, float* y) {
  constexpr int64_t kBlock = 256;
#pragma omp parallel for if (n > kParallelThreshold)
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t count = std::min(kBlock, n - begin);
    const float* xb = x + begin;
    float* yb = y + begin;
    alignas(64) float e[kBlock];
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) e[i] = fast_exp(-std::fabs(xb[i]));
#pragma omp simd
    for (int64_t i = 0; i < count; ++i) {
      float v = xb[i];  // NaN: e[i] is NaN, and so is the sum
      yb[i] = (v > 0.0f ? v : 0.0f) + fast_log1p(e[i]);
    }
  }
}

void softmax_forward(int64_t rows, int64_t cols, const float* x, float* y) {
#pragma omp parallel for if (rows * cols > kParallelThreshold)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    // Subtracting the row maximum makes every exponent ≤ 0: no overflow, same result.
    float top = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : top)
    for (int64_t c = 0; c < cols; ++c) top = std::max(top, xr[c]);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < cols; ++c) {
      float e = fast_exp(xr[c] - top);
      yr[c] = e;
      sum += e;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
  }
}

void softmax_backward(int64_t rows, int64_t cols, const float* y, const float* dy, float* dx) {
#pragma omp parallel for if (rows * cols > kParallelThreshold)
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t c = 0; c < cols; ++c) dot += dyr[c] * yr[c];
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) dxr[c] = yr[c] * (dyr[c] - dot);
  }
}

}  // namespace

Activation activation_from_name(const std::string& name) {
  for (std::size_t i = 0; i < std::size(kNames); ++i) {
    if (name == kNames[i]) return static_cast<Activation>(i);
  }
  if (name == "silu") return Activation::swish;
  std::string valid;
  for (const char* n : kNames) valid += (valid.empty() ? "" : ", ") + std::string(n);
  throw ValueError(fmt::format("unknown activation '{}'; expected one of {}", name, valid));
}

std::string activation_name(Activation activation) {
  return kNames[static_cast<std::size_t>(activation)];
}

bool activation_has_alpha(Activation activation) {
  return activation == Activation::leaky_relu || activation == Activation::elu;
}

float activation_default_alpha(Activation activation) {
  switch (activation) {
    case Activation::leaky_relu:
      return 0.3f;
    case Activation::elu:
      return 1.0f;
    default:
      return 0.0f;
  }
}

bool activation_backward_reads_input(Activation activation) {
  switch (activation) {
    case Activation::leaky_relu:
    case Activation::elu:
    case Activation::swish:
    case Activation::softplus:
    case Activation::hard_sigmoid:
      return true;
    default:
      return false;
  }
}

void activation_forward(Activation activation, float alpha, int64_t rows, int64_t cols,
                        const float* x, float* y) {
  const int64_t n = rows * cols;
  constexpr float kScale = static_cast<float>(kSeluScale);
  constexpr float kScaledAlpha = static_cast<float>(kSeluScale * kSeluAlpha);
  switch (activation) {
    case Activation::linear:
      if (y != x) std::copy(x, x + n, y);
      return;
#ifdef __AVX512F__
    case Activation::sigmoid:
      return map16(n, x, y, [](__m512 v) { return detail::sigmoid16(v); });
    case Activation::tanh:
      return map16(n, x, y, [](__m512 v) { return detail::tanh16(v); });
#else
    case Activation::sigmoid:
      return map1(n, x, y, [](float v) { return fast_sigmoid(v); });
    case Activation::tanh:
      return map1(n, x, y, [](float v) { return fast_tanh(v); });
#endif
    case Activation::relu:
      // std::max(v, 0) returns v when v is NaN: a diverging run shows NaN, not zeros.
      return map1(n, x, y, [](float v) { return std::max(v, 0.0f); });
    case Activation::leaky_relu:
      // Both sides computed, then selected: a conditional product would read alpha under a
      // mask, which GCC does not vectorise at 256 bits. Likewise below.
      return map1(n, x, y, [alpha](float v) {
        float negative = alpha * v;
        return v > 0.0f ? v : negative;
      });
    case Activation::elu:
      return map1(n, x, y, [alpha](float v) {
        float negative = alpha * fast_expm1(v);
        return v > 0.0f ? v : negative;
      });
    case Activation::selu:
      return map1(n, x, y, [](float v) {
        float negative = kScaledAlpha * fast_expm1(v);
        return v > 0.0f ? kScale * v : negative;
      });
    case Activation::swish:
#ifdef __AVX512F__
      return map16(n, x, y, [](__m512 v) { return _mm512_mul_ps(v, detail::sigmoid16(v)); });
#else
      return map1(n, x, y, [](float v) { return v * fast_sigmoid(v); });
#endif
    case Activation::softplus:
      return softplus_forward(n, x, y);
    case Activation::softsign:
      return map1(n, x, y, [](float v) { return v / (1.0f + std::fabs(v)); });
    case Activation::hard_sigmoid:
      // (x + 3) / 6 rather than x/6 + 1/2: the same rounding as PyTorch's hardsigmoid.
      return map1(n, x, y, [](float v) { return std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f; });
    case Activation::softmax:
      return softmax_forward(rows, cols, x, y);
  }
}

void activation_backward(Activation activation, float alpha, int64_t rows, int64_t cols,
                         const float* x, const float* y, const float* dy, float* dx) {
  const int64_t n = rows * cols;
  constexpr float kScale = static_cast<float>(kSeluScale);
  constexpr float kScaledAlpha = static_cast<float>(kSeluScale * kSeluAlpha);
  switch (activation) {
    case Activation::linear:
      if (dx != dy) std::copy(dy, dy + n, dx);
      return;
    case Activation::sigmoid:
      return map2(n, y, dy, dx, [](float s, float g) { return g * s * (1.0f - s); });
    case Activation::tanh:
      return map2(n, y, dy, dx, [](float t, float g) { return g * (1.0f - t * t); });
    case Activation::relu:
      return map2(n, y, dy, dx, [](float r, float g) { return r > 0.0f ? g : 0.0f; });
    case Activation::leaky_relu:
      return map2(n, x, dy, dx, [alpha](float v, float g) {
        float negative = alpha * g;
        return v > 0.0f ? g : negative;
      });
    case Activation::elu:
      // For x ≤ 0, d/dx alpha·(e^x − 1) = alpha·e^x = y + alpha.
      return map3(n, x, y, dy, dx, [alpha](float v, float e, float g) {
        float negative = g * (e + alpha);
        return v > 0.0f ? g : negative;
      });
    case Activation::selu:
      // y > 0 exactly when x > 0 (scale and alpha are positive); below, y' = y + scale·alpha.
      return map2(n, y, dy, dx,
                  [](float s, float g) { return s > 0.0f ? kScale * g : g * (s + kScaledAlpha); });
    case Activation::swish:
      // (x·σ)' = σ + x·σ·(1 − σ) = σ + y·(1 − σ).
      return map3(n, x, y, dy, dx, [](float v, float s, float g) {
        float sig = fast_sigmoid(v);
        return g * (sig + s * (1.0f - sig));
      });
    case Activation::softplus:
      return map2(n, x, dy, dx, [](float v, float g) { return g * fast_sigmoid(v); });
    case Activation::softsign:
      // 1 / (1 + |x|)² = (1 − |y|)².
      return map2(n, y, dy, dx, [](float s, float g) {
        float d = 1.0f - std::fabs(s);
        return g * d * d;
      });
    case Activation::hard_sigmoid:
      return map2(n, x, dy, dx, [](float v, float g) {
        return v > -3.0f && v < 3.0f ? g * (1.0f / 6.0f) : 0.0f;
      });
    case Activation::softmax:
      return softmax_backward(rows, cols, y, dy, dx);
  }
}

void activation_forward_reference(Activation activation, float alpha, int64_t rows, int64_t cols,
                                  const float* x, float* y) {
  const int64_t n = rows * cols;
  if (activation == Activation::softmax) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols;
      double top = *std::max_element(xr, xr + cols), sum = 0.0;
      for (int64_t c = 0; c < cols; ++c) sum += std::exp(static_cast<double>(xr[c]) - top);
      for (int64_t c = 0; c < cols; ++c)
        y[r * cols + c] = static_cast<float>(std::exp(static_cast<double>(xr[c]) - top) / sum);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    double v = x[i], out = v;
    switch (activation) {
      case Activation::linear:
      case Activation::softmax:
        break;
      case Activation::sigmoid:
        out = 1.0 / (1.0 + std::exp(-v));
        break;
      case Activation::tanh:
        out = std::tanh(v);
        break;
      case Activation::relu:
        out = v > 0 ? v : 0.0;
        break;
      case Activation::leaky_relu:
        out = v > 0 ? v : alpha * v;
        break;
      case Activation::elu:
        out = v > 0 ? v : alpha * std::expm1(v);
        break;
      case Activation::selu:
        out = kSeluScale * (v > 0 ? v : kSeluAlpha * std::expm1(v));
        break;
      case Activation::swish:
        out = v / (1.0 + std::exp(-v));
        break;
      case Activation::softplus:
        out = std::max(v, 0.0) + std::log1p(std::exp(-std::fabs(v)));
        break;
      case Activation::softsign:
        out = v / (1.0 + std::fabs(v));
        break;
      case Activation::hard_sigmoid:
        out = std::clamp(v / 6.0 + 0.5, 0.0, 1.0);
        break;
    }
    y[i] = static_cast<float>(out);
  }
}

void activation_backward_reference(Activation activation, float alpha, int64_t rows, int64_t cols,
                                   const float* x, const float* dy, float* dx) {
  const int64_t n = rows * cols;
  if (activation == Activation::softmax) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
      double top = *std::max_element(xr, xr + cols), sum = 0.0, dot = 0.0;
      for (int64_t c = 0; c < cols; ++c) sum += std::exp(static_cast<double>(xr[c]) - top);
      for (int64_t c = 0; c < cols; ++c) dot += dyr[c] * std::exp(xr[c] - top) / sum;
      // ∂y_c/∂x_k = y_c·(δ_ck − y_k), so dx_k = y_k·(dy_k − Σ_c dy_c·y_c).
      for (int64_t c = 0; c < cols; ++c) {
        double p = std::exp(static_cast<double>(xr[c]) - top) / sum;
        dx[r * cols + c] = static_cast<float>(p * (dyr[c] - dot));
      }
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    double v = x[i], d = 1.0;
    double s = 1.0 / (1.0 + std::exp(-v));
    switch (activation) {
      case Activation::linear:
      case Activation::softmax:
        break;
      case Activation::sigmoid:
        d = s * (1.0 - s);
        break;
      case Activation::tanh:
        d = 1.0 / (std::cosh(v) * std::cosh(v));
        break;
      case Activation::relu:
        d = v > 0 ? 1.0 : 0.0;
        break;
      case Activation::leaky_relu:
        d = v > 0 ? 1.0 : alpha;
        break;
      case Activation::elu:
        d = v > 0 ? 1.0 : alpha * std::exp(v);
        break;
      case Activation::selu:
        d = kSeluScale * (v > 0 ? 1.0 : kSeluAlpha * std::exp(v));
        break;
      case Activation::swish:
        d = s + v * s * (1.0 - s);
        break;
      case Activation::softplus:
        d = s;
        break;
      case Activation::softsign:
        d = 1.0 / ((1.0 + std::fabs(v)) * (1.0 + std::fabs(v)));
        break;
      case Activation::hard_sigmoid:
        d = v > -3.0 && v < 3.0 ? 1.0 / 6.0 : 0.0;
        break;
    }
    dx[i] = static_cast<float>(dy[i] * d);
  }
}

}  // namespace nnkit
