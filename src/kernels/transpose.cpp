#include "nnkit/kernels/transpose.h"

#include <algorithm>

namespace nnkit {

namespace {

// Tiles of 16 × 16 floats: a tile's 16 source rows and 16 destination rows (1 KiB each way)
// stay in L1 while it is copied, where a plain double loop strides through memory on one side.
constexpr int64_t kTile = 16;
// From this many elements the tile rows are split over OpenMP threads.
constexpr int64_t kParallelElements = int64_t{1} << 18;

template <bool kAccumulate>
void transpose_tiles(int64_t rows, int64_t cols, const float* src, float* dst) {
  const int64_t tile_rows = (rows + kTile - 1) / kTile;
  auto tile_row = [&](int64_t t) {
    const int64_t r0 = t * kTile, r1 = std::min(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c) {
        float* out = dst + c * rows;
        for (int64_t r = r0; r < r1; ++r) {
          if constexpr (kAccumulate) {
            out[r] += src[r * cols + c];
          } else {
            out[r] = src[r * cols + c];
          }
        }
      }
    }
  };
  if (rows * cols >= kParallelElements) {
#pragma omp parallel for
    for (int64_t t = 0; t < tile_rows; ++t) tile_row(t);
  } else {
    for (int64_t t = 0; t < tile_rows; ++t) tile_row(t);
  }
}

}  // namespace

void transpose(int64_t rows, int64_t cols, const float* src, float* dst) {
  transpose_tiles<false>(rows, cols, src, dst);
}

void add_transposed(int64_t rows, int64_t cols, const float* src, float* dst) {
  transpose_tiles<true>(rows, cols, src, dst);
}

}  // namespace nnkit
