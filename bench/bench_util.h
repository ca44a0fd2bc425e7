// Helpers shared by the micro-benchmarks.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit::bench {

// Uniform in [-1, 1), the same for the same seed.
inline Tensor random_tensor(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  Tensor t(shape);
  for (float& v : t) v = rng.uniform(-1, 1);
  return t;
}

// A "GB/s" counter: bytes_per_call bytes moved by each iteration.
inline void set_bytes(benchmark::State& state, double bytes_per_call) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes_per_call * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

}  // namespace nnkit::bench
