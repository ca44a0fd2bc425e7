// Dense layers and whole training epochs: Dense forward + backward for a few sizes (GFLOP/s
// counts the three GEMMs: 6·batch·in·out per step), and one fit() epoch of an MLP
// (784-256-128-10, batch 64, Adam: the Fashion-MNIST MLP of the issues) on random data.
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "nnkit/layers/dense.h"
#include "nnkit/model.h"

namespace {

using nnkit::bench::random_tensor;

void BM_DenseForwardBackward(benchmark::State& state) {
  int64_t batch = state.range(0), in = state.range(1), out = state.range(2);
  nnkit::Dense dense({.units = out, .activation = "relu"});
  nnkit::Rng rng(1);
  dense.build({in}, rng);
  nnkit::Tensor x = random_tensor({batch, in}, 2);
  nnkit::Tensor dy = random_tensor({batch, out}, 3);
  for (auto _ : state) {
    nnkit::Tensor y = dense.forward(x, nnkit::Mode::Train);
    nnkit::Tensor dx = dense.backward(dy);
    benchmark::DoNotOptimize(dx.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(6.0 * batch * in * out * state.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

void BM_MlpFitEpoch(benchmark::State& state) {
  const int64_t samples = state.range(0);
  nnkit::Tensor x = random_tensor({samples, 784}, 4);
  nnkit::Tensor y({samples, 1});
  nnkit::Rng rng(5);
  for (float& v : y) v = static_cast<float>(rng.below(10));
  nnkit::Sequential model({.input_shape = {784}, .seed = 1});
  model.add(nnkit::Dense({.units = 256, .activation = "relu"}));
  model.add(nnkit::Dense({.units = 128, .activation = "relu"}));
  model.add(nnkit::Dense({.units = 10, .activation = "softmax"}));
  model.compile(nnkit::make_adam({.learning_rate = 1e-3f}),
                nnkit::make_loss("sparse_categorical_crossentropy"));
  for (auto _ : state) model.fit(x, y, {.epochs = 1, .batch_size = 64});
  state.counters["samples/s"] = benchmark::Counter(
      static_cast<double>(samples * state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_DenseForwardBackward)
    ->Args({64, 784, 256})
    ->Args({64, 256, 128})
    ->Args({256, 1024, 1024})
    ->Args({1, 128, 128})
    ->UseRealTime();
// 60000 samples = one Fashion-MNIST epoch.
BENCHMARK(BM_MlpFitEpoch)->Arg(60000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK_MAIN();
