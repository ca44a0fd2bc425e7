// An element loop that is vectorised always and split over OpenMP threads only when long.
// A plain branch rather than an `if` clause on the pragma: an OpenMP region whose `if` is
// false still enters the runtime (about 0.3 µs), which recurrent layers pay several times
// per time step at batch 1. Private to src/.
#pragma once

#include <cstdint>

namespace nnkit::detail {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelElements = int64_t{1} << 15;

template <typename Body>
inline void simd_for(int64_t n, Body body) {
  if (n > kParallelElements) {
#pragma omp parallel for simd
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

}  // namespace nnkit::detail
