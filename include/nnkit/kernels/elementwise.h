// Element-wise and row-wise kernels on raw arrays. Plain loops written so that GCC
// vectorises them at -O3 -march=native (contiguous, no aliasing, no branches in the body);
// large arrays are split over OpenMP threads. Allocate nothing, throw nothing.
#pragma once

#include <cstdint>

namespace nnkit {

// y[i] += alpha · x[i]
void axpy(int64_t n, float alpha, const float* x, float* y);
// x[i] *= alpha
void scale(int64_t n, float alpha, float* x);
// out[i] = a[i] + b[i]
void add(int64_t n, const float* a, const float* b, float* out);
// out[i] = a[i] · b[i]
void mul(int64_t n, const float* a, const float* b, float* out);
// x[r, c] += bias[c] for an [rows, cols] x.
void add_row_vector(int64_t rows, int64_t cols, const float* bias, float* x);
// out[c] += Σ_r x[r, c] for an [rows, cols] x (bias gradients).
void sum_rows_into(int64_t rows, int64_t cols, const float* x, float* out);
// Σ x[i]² in double.
double sum_of_squares(int64_t n, const float* x);

}  // namespace nnkit
