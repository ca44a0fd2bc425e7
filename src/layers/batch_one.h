// When the recurrent layers run a step's products on the batch-1 matrix-vector kernels.
//
// At batch 1 a step's products are matrix-vector products, where a library GEMM call costs more
// than the arithmetic: the hand-written kernels of nnkit/kernels/gemv.h take them when built
// with AVX-512 (bench/README.md has the figures). Private to src/layers/.
#pragma once

#include <cstdint>

#include "nnkit/kernels/gemv.h"

namespace nnkit::detail {

inline bool use_gemv(int64_t batch) { return batch == 1 && gemv_is_vectorized(); }

// From this many steps a batch-1 forward packs W_hh for gemv_packed (13.5 µs for LSTM(128)'s
// 512 × 128, saving about 1 µs a step); shorter ones run gemv on W_hh as stored. The weights
// may change between forwards (nnkit keeps no version of them), so the copy is made anew for
// each forward, never inside its time loop.
constexpr int64_t kPackFromSteps = 16;

}  // namespace nnkit::detail
