#include "nnkit/kernels/activations.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {

// Below this many elements a parallel region costs more than it saves. The if clauses name
// `parallel`: on a combined `parallel for simd`, an unqualified if applies to the simd
// construct too, and small arrays would run scalar (4x slower, measured).
// The map helpers branch instead: even with its if clause false, a parallel construct calls
// GOMP_parallel, which sets up a one-thread team and makes a futex system call, about 0.2 µs
// a call measured here; recurrent layers call these kernels on a few hundred elements
// thousands of times per batch.
constexpr int64_t kParallelThreshold = 1 << 15;

constexpr const char* kNames[] = {"linear",     "sigmoid",  "tanh",         "relu",
                                  "leaky_relu", "elu",      "selu",         "swish",
                                  "softplus",   "softsign", "hard_sigmoid", "softmax"};

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

template <typename F>
void map1(int64_t n, const float* a, float* out, F f) {
  if (n > kParallelThreshold) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i]);
  }
}

template <typename F>
void map2(int64_t n, const float* a, const float* b, float* out, F f) {
  if (n > kParallelThreshold) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  }
}

template <typename F>
void map3(int64_t n, const float* a, const float* b, const float* c, float* out, F f) {
  if (n > kParallelThreshold) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i], c[i]);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i], c[i]);
  }
}

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
    case Activation::sigmoid:
      return map1(n, x, y, [](float v) { return fast_sigmoid(v); });
    case Activation::tanh:
      return map1(n, x, y, [](float v) { return fast_tanh(v); });
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
      return map1(n, x, y, [](float v) { return v * fast_sigmoid(v); });
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
