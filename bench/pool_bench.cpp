// Pooling layers at the shapes of the Fashion-MNIST CNN (batch 64): MaxPooling2D 2 on
// 32×28×28 and on 64×14×14, forward in training (argmax kept) and inference, and backward;
// AveragePooling2D the same for comparison. GB/s counts the bytes a pass must move at least:
// input and output floats (and the int32 argmax where it is written or read).
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "nnkit/layers/pooling2d.h"

namespace {

using nnkit::bench::random_tensor;

template <typename Pool>
struct Setup {
  Pool pool;
  nnkit::Tensor x, dy;
  explicit Setup(const benchmark::State& state) {
    const int64_t batch = state.range(0), channels = state.range(1), size = state.range(2);
    nnkit::Rng rng(1);
    nnkit::Shape out = pool.build({channels, size, size}, rng);
    x = random_tensor({batch, channels, size, size}, 2);
    dy = random_tensor({batch, out[0], out[1], out[2]}, 3);
  }
};

using nnkit::bench::set_bytes;

void BM_MaxPoolForwardTrain(benchmark::State& state) {
  Setup<nnkit::MaxPooling2D> s(state);
  for (auto _ : state) {
    nnkit::Tensor y = s.pool.forward(s.x, nnkit::Mode::Train);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 4.0 * s.x.size() + 8.0 * s.dy.size());
}

void BM_MaxPoolForwardInfer(benchmark::State& state) {
  Setup<nnkit::MaxPooling2D> s(state);
  for (auto _ : state) {
    nnkit::Tensor y = s.pool.forward(s.x, nnkit::Mode::Infer);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 4.0 * s.x.size() + 4.0 * s.dy.size());
}

void BM_MaxPoolBackward(benchmark::State& state) {
  Setup<nnkit::MaxPooling2D> s(state);
  s.pool.forward(s.x, nnkit::Mode::Train);
  for (auto _ : state) {
    nnkit::Tensor dx = s.pool.backward(s.dy);
    benchmark::DoNotOptimize(dx.data());
  }
  set_bytes(state, 4.0 * s.x.size() + 8.0 * s.dy.size());
}

void BM_MaxPoolForwardBackward(benchmark::State& state) {
  Setup<nnkit::MaxPooling2D> s(state);
  for (auto _ : state) {
    nnkit::Tensor y = s.pool.forward(s.x, nnkit::Mode::Train);
    nnkit::Tensor dx = s.pool.backward(s.dy);
    benchmark::DoNotOptimize(dx.data());
  }
  set_bytes(state, 8.0 * s.x.size() + 16.0 * s.dy.size());
}

void BM_AvgPoolForward(benchmark::State& state) {
  Setup<nnkit::AveragePooling2D> s(state);
  for (auto _ : state) {
    nnkit::Tensor y = s.pool.forward(s.x, nnkit::Mode::Train);
    benchmark::DoNotOptimize(y.data());
  }
  set_bytes(state, 4.0 * s.x.size() + 4.0 * s.dy.size());
}

void BM_AvgPoolBackward(benchmark::State& state) {
  Setup<nnkit::AveragePooling2D> s(state);
  for (auto _ : state) {
    nnkit::Tensor dx = s.pool.backward(s.dy);
    benchmark::DoNotOptimize(dx.data());
  }
  set_bytes(state, 4.0 * s.x.size() + 4.0 * s.dy.size());
}

// Args: batch, channels, height = width. The CNN's two pooling layers.
void cnn_shapes(benchmark::internal::Benchmark* b) {
  b->Args({64, 32, 28})->Args({64, 64, 14})->UseRealTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_MaxPoolForwardTrain)->Apply(cnn_shapes);
BENCHMARK(BM_MaxPoolForwardInfer)->Apply(cnn_shapes);
BENCHMARK(BM_MaxPoolBackward)->Apply(cnn_shapes);
BENCHMARK(BM_MaxPoolForwardBackward)->Apply(cnn_shapes);
BENCHMARK(BM_AvgPoolForward)->Apply(cnn_shapes);
BENCHMARK(BM_AvgPoolBackward)->Apply(cnn_shapes);
BENCHMARK_MAIN();
