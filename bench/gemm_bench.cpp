// GEMM: nnkit::gemm against a raw dnnl_sgemm call (the wrapper must cost nothing) and the
// reference loop (small sizes only), in GFLOP/s. Run with OMP_NUM_THREADS=2 for the
// issue's 2-thread figures.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "nnkit/kernels/gemm.h"
#include "nnkit/random.h"
#include "oneapi/dnnl/dnnl.h"

namespace {

struct Matrices {
  explicit Matrices(int64_t n) : a(n * n), b(n * n), c(n * n) {
    nnkit::Rng rng(1);
    for (auto& v : a) v = rng.uniform(-1, 1);
    for (auto& v : b) v = rng.uniform(-1, 1);
  }
  std::vector<float> a, b, c;
};

void set_flops(benchmark::State& state, int64_t n) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * state.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

void BM_NnkitGemm(benchmark::State& state) {
  int64_t n = state.range(0);
  Matrices m(n);
  for (auto _ : state) {
    nnkit::gemm(nnkit::Trans::No, nnkit::Trans::No, n, n, n, 1.0f, m.a.data(), n, m.b.data(), n,
                0.0f, m.c.data(), n);
    benchmark::DoNotOptimize(m.c.data());
  }
  set_flops(state, n);
}

void BM_RawDnnlSgemm(benchmark::State& state) {
  int64_t n = state.range(0);
  Matrices m(n);
  for (auto _ : state) {
    dnnl_sgemm('N', 'N', n, n, n, 1.0f, m.a.data(), n, m.b.data(), n, 0.0f, m.c.data(), n);
    benchmark::DoNotOptimize(m.c.data());
  }
  set_flops(state, n);
}

void BM_ReferenceGemm(benchmark::State& state) {
  int64_t n = state.range(0);
  Matrices m(n);
  for (auto _ : state) {
    nnkit::gemm_reference(nnkit::Trans::No, nnkit::Trans::No, n, n, n, 1.0f, m.a.data(), n,
                          m.b.data(), n, 0.0f, m.c.data(), n);
    benchmark::DoNotOptimize(m.c.data());
  }
  set_flops(state, n);
}

// Rectangular shapes from the layers: Dense heads, recurrent steps and weight gradients.
void BM_NnkitGemmShape(benchmark::State& state) {
  int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::vector<float> a(m * k, 0.5f), b(k * n, 0.25f), c(m * n);
  for (auto _ : state) {
    nnkit::gemm(nnkit::Trans::No, nnkit::Trans::No, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f,
                c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

// A recurrent layer's weight gradient over a whole sequence in its transposed form,
// C[m, n] = Aᵀ·B with A [k, m] and B [k, n] (k = steps · batch): under oneDNN's own threads
// (arg 3 = 0) or with C's columns split over the threads (1, gemm_split_columns).
// Shapes: stacked's dW_ih of layer 1 (64), dW_hh (256), wide's dW_ih (256) and dW_hh (512).
void BM_WeightGradient(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const bool split = state.range(3) != 0;
  std::vector<float> a(k * m, 0.5f), b(k * n, 0.25f), c(m * n);
  for (auto _ : state) {
    if (split) {
      nnkit::gemm_split_columns(nnkit::Trans::Yes, nnkit::Trans::No, m, n, k, 1.0f, a.data(), m,
                                b.data(), n, 0.0f, c.data(), n);
    } else {
      nnkit::gemm(nnkit::Trans::Yes, nnkit::Trans::No, m, n, k, 1.0f, a.data(), m, b.data(), n,
                  0.0f, c.data(), n);
    }
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

// The ceiling every GEMM figure above is read against: fused multiply-adds on registers only
// (twelve independent 16-float accumulators, enough to keep both FMA pipes busy), on every
// OpenMP thread at once. No memory, so no GEMM can pass it.
void BM_FmaPeak(benchmark::State& state) {
#if defined(__AVX512F__)
  constexpr int64_t kIterations = 1 << 22;
  constexpr int kAccumulators = 12;
  const int threads = omp_get_max_threads();
  std::vector<float> sums(threads);
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      __m512 acc[kAccumulators];
      for (int j = 0; j < kAccumulators; ++j) acc[j] = _mm512_set1_ps(1.0f + 1e-7f * j);
      const __m512 scale = _mm512_set1_ps(0.999999f), shift = _mm512_set1_ps(1e-7f);
      for (int64_t i = 0; i < kIterations; ++i) {
        for (int j = 0; j < kAccumulators; ++j) acc[j] = _mm512_fmadd_ps(acc[j], scale, shift);
      }
      __m512 total = acc[0];
      for (int j = 1; j < kAccumulators; ++j) total = _mm512_add_ps(total, acc[j]);
      float lanes[16];
      _mm512_storeu_ps(lanes, total);
      sums[omp_get_thread_num()] = lanes[0];
    }
    benchmark::DoNotOptimize(sums.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 16 * kAccumulators * kIterations * threads * state.iterations(),
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
#else
  state.SkipWithError("built without AVX-512");
#endif
}

}  // namespace

BENCHMARK(BM_FmaPeak)->UseRealTime();
BENCHMARK(BM_WeightGradient)
    ->ArgsProduct({{64, 256}, {1024}, {6400}, {0, 1}})
    ->ArgsProduct({{256, 512}, {2048}, {6400}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_NnkitGemmShape)
    ->Args({1, 512, 128})
    ->Args({32, 512, 128})
    ->Args({48, 16, 480})
    ->Args({64, 10, 128})
    ->Args({64, 128, 256})
    ->Args({128, 128, 128})
    ->Args({64, 256, 784})
    ->UseRealTime();
BENCHMARK(BM_NnkitGemm)->Arg(128)->Arg(512)->Arg(1024)->Arg(2048)->UseRealTime();
BENCHMARK(BM_RawDnnlSgemm)->Arg(128)->Arg(512)->Arg(1024)->Arg(2048)->UseRealTime();
BENCHMARK(BM_ReferenceGemm)->Arg(128)->UseRealTime();
BENCHMARK_MAIN();
