#include "nnkit/kernels/elementwise.h"

#include <algorithm>

#include "parallel_loop.h"

namespace nnkit {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;
}  // namespace

void axpy(int64_t n, float alpha, const float* __restrict x, float* __restrict y) {
  detail::simd_for(n, [=](int64_t i) { y[i] += alpha * x[i]; });
}

void scale(int64_t n, float alpha, float* x) {
  detail::simd_for(n, [=](int64_t i) { x[i] *= alpha; });
}

void add(int64_t n, const float* a, const float* b, float* out) {
  detail::simd_for(n, [=](int64_t i) { out[i] = a[i] + b[i]; });
}

void mul(int64_t n, const float* a, const float* b, float* out) {
  detail::simd_for(n, [=](int64_t i) { out[i] = a[i] * b[i]; });
}

void add_row_vector(int64_t rows, int64_t cols, const float* __restrict bias, float* __restrict x) {
  auto add_to_rows = [=](int64_t r) {
    float* row = x + r * cols;
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
  };
  if (rows * cols > kParallelThreshold) {
#pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) add_to_rows(r);
  } else {
    for (int64_t r = 0; r < rows; ++r) add_to_rows(r);
  }
}

void sum_rows_into(int64_t rows, int64_t cols, const float* __restrict x, float* __restrict out) {
  // Row after row so each pass streams contiguous memory; columns are independent, so large
  // inputs split into column blocks, one thread each, every column still summed in row order
  // (the same result on any number of threads). A recurrent layer's bias gradients sum
  // [steps · batch, gates] this way: 79 MB for a GRU(512) over 50 steps of batch 128.
  auto sum_columns = [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols;
#pragma omp simd
      for (int64_t c = c0; c < c1; ++c) out[c] += row[c];
    }
  };
  constexpr int64_t kBlock = 64;  // columns: whole cache lines per thread
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
  if (blocks < 2 || rows * cols <= kParallelThreshold) {
    sum_columns(0, cols);
    return;
  }
#pragma omp parallel for
  for (int64_t b = 0; b < blocks; ++b) sum_columns(b * kBlock, std::min(cols, (b + 1) * kBlock));
}

double sum_of_squares(int64_t n, const float* x) {
  double sum = 0.0;
#pragma omp parallel for simd reduction(+ : sum) if (parallel : n > kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

}  // namespace nnkit
