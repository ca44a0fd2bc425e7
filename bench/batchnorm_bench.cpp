// BatchNormalization at the shapes of the Fashion-MNIST cnn_bn (batch 64): over the channels
// of 32×28×28 and 64×14×14, and over the features of a (64, 128) Dense output. Forward in
// training (batch statistics, x̂ kept) and inference, and backward. GB/s counts the bytes a
// pass must move at least: training forward reads x and writes y and x̂; backward reads dy and
// x̂ and writes dx; inference reads x and writes y.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "nnkit/layers/batch_normalization.h"

namespace {

using nnkit::bench::random_tensor;

struct Setup {
  nnkit::BatchNormalization bn;
  nnkit::Tensor x, dy;
  explicit Setup(const benchmark::State& state) {
    const int64_t batch = state.range(0), channels = state.range(1), size = state.range(2);
    nnkit::Shape item = size > 0 ? nnkit::Shape{channels, size, size} : nnkit::Shape{channels};
    nnkit::Shape full = item;
    full.insert(full.begin(), batch);
    nnkit::Rng rng(1);
    bn.build(item, rng);
    x = random_tensor(full, 2);
    dy = random_tensor(full, 3);
  }
};

using nnkit::bench::set_bytes;

void BM_BatchNormForwardTrain(benchmark::State& state) {
  Setup s(state);
  for (auto _ : state) {
    nnkit::Tensor y = s.bn.forward(s.x, nnkit::Mode::Train);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 12.0 * s.x.size());
}

void BM_BatchNormForwardInfer(benchmark::State& state) {
  Setup s(state);
  for (auto _ : state) {
    nnkit::Tensor y = s.bn.forward(s.x, nnkit::Mode::Infer);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 8.0 * s.x.size());
}

void BM_BatchNormBackward(benchmark::State& state) {
  Setup s(state);
  s.bn.forward(s.x, nnkit::Mode::Train);
  for (auto _ : state) {
    nnkit::Tensor dx = s.bn.backward(s.dy);
    benchmark::DoNotOptimize(dx.data());
  }
  set_bytes(state, 12.0 * s.x.size());
}

// Args: batch, channels, height = width (0: a 2-D (batch, channels) input).
void cnn_bn_shapes(benchmark::internal::Benchmark* b) {
  b->Args({64, 32, 28})->Args({64, 64, 14})->Args({64, 128, 0});
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_BatchNormForwardTrain)->Apply(cnn_bn_shapes);
BENCHMARK(BM_BatchNormForwardInfer)->Apply(cnn_bn_shapes);
BENCHMARK(BM_BatchNormBackward)->Apply(cnn_bn_shapes);
BENCHMARK_MAIN();
