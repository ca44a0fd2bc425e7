// Activation kernels: the vectorised ones against their scalar <cmath> references, on a
// batch of 64 rows of 256 values (below the threading threshold) and of 2048 rows.
// Measured on the 2-core Xeon (AVX-512, GCC 12 using 256-bit vectors), OMP_NUM_THREADS=1,
// values per second at 64 rows, fast / reference: sigmoid 1.83G / 246M, tanh 1.72G / 75M,
// relu 9.9G / 240M, elu 2.68G / 144M, swish 2.01G / 258M, softplus 1.31G / 75M,
// softmax 690M / 127M.
#include <benchmark/benchmark.h>

#include <vector>

#include "nnkit/kernels/activations.h"
#include "nnkit/random.h"

namespace {

using nnkit::Activation;

void run(benchmark::State& state, Activation activation, bool reference) {
  const int64_t rows = state.range(0), cols = 256;
  nnkit::Rng rng(1);
  std::vector<float> x(rows * cols), y(x.size());
  for (float& v : x) v = rng.uniform(-6.0f, 6.0f);
  const float alpha = nnkit::activation_default_alpha(activation);
  for (auto _ : state) {
    if (reference) {
      nnkit::activation_forward_reference(activation, alpha, rows, cols, x.data(), y.data());
    } else {
      nnkit::activation_forward(activation, alpha, rows, cols, x.data(), y.data());
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetItemsProcessed(state.iterations() * rows * cols);
}

void forward(benchmark::State& state, Activation activation) { run(state, activation, false); }
void reference(benchmark::State& state, Activation activation) { run(state, activation, true); }

#define NNKIT_ACTIVATION_BENCH(name)                                      \
  BENCHMARK_CAPTURE(forward, name, Activation::name)->Arg(64)->Arg(2048); \
  BENCHMARK_CAPTURE(reference, name, Activation::name)->Arg(64)->Arg(2048)

NNKIT_ACTIVATION_BENCH(sigmoid);
NNKIT_ACTIVATION_BENCH(tanh);
NNKIT_ACTIVATION_BENCH(relu);
NNKIT_ACTIVATION_BENCH(elu);
NNKIT_ACTIVATION_BENCH(swish);
NNKIT_ACTIVATION_BENCH(softplus);
NNKIT_ACTIVATION_BENCH(softmax);

}  // namespace

BENCHMARK_MAIN();
