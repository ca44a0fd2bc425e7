// Transposing a row-major matrix, alone or added into another.
//
// The recurrent layers use them to hand oneDNN's GEMM the operand layouts it runs fastest
// (measured, 1 thread, dnnl_sgemm): a step's product h·W_hhᵀ with W_hh transposed once per
// forward runs at 146-163 GFLOP/s against 100-123 with the transpose left to the GEMM, and a
// weight gradient computed as its transpose, X_prevᵀ·dG, then added transposed, at 1.3 to 3 times
// the speed of dGᵀ·X_prev (bench/README.md). Written by hand: a tiled copy loop is all it takes
// and no library at hand offers one on plain arrays.
#pragma once

#include <cstdint>

namespace nnkit {

// dst[c, r] = src[r, c] for src [rows, cols] and dst [cols, rows], both row-major.
void transpose(int64_t rows, int64_t cols, const float* src, float* dst);
// dst[c, r] += src[r, c], the same shapes.
void add_transposed(int64_t rows, int64_t cols, const float* src, float* dst);

}  // namespace nnkit
