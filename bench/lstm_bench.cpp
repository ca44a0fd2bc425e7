// The LSTM layer: one training step (forward in Mode::Train, then backward with the input
// gradient) of LSTM(128) on (N, T, F) batches, in steps/s; GFLOP/s counts the GEMMs only,
// 2·T·N·4H·(F + H) forward and twice that backward (the dx GEMM and the first step's
// recurrent GEMM are small and are counted as if done). And inference alone at batch 1, the
// flagship forecaster's prediction path, and the streaming step() that continues it one step
// at a time, for one stream or a batch of streams (GRU's step() too).
#include <benchmark/benchmark.h>

#include "bench_util.h"
#include "nnkit/layers/dense.h"
#include "nnkit/layers/gru.h"
#include "nnkit/layers/lstm.h"
#include "nnkit/model.h"

namespace {

constexpr int64_t kUnits = 128;

using nnkit::bench::random_tensor;

double gemm_flops(int64_t batch, int64_t steps, int64_t features) {
  return 2.0 * steps * batch * 4 * kUnits * (features + kUnits);
}

void BM_LSTMTrainStep(benchmark::State& state) {
  const int64_t batch = state.range(0), steps = state.range(1), features = state.range(2);
  nnkit::LSTM lstm({.units = kUnits});
  nnkit::Rng rng(1);
  lstm.build({steps, features}, rng);
  nnkit::Tensor x = random_tensor({batch, steps, features}, 2);
  nnkit::Tensor dy = random_tensor({batch, kUnits}, 3);
  for (auto _ : state) {
    nnkit::Tensor y = lstm.forward(x, nnkit::Mode::Train);
    nnkit::Tensor dx = lstm.backward(dy);
    benchmark::DoNotOptimize(dx.data());
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["steps/s"] = benchmark::Counter(n, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(3.0 * gemm_flops(batch, steps, features) * n, benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

void BM_LSTMInfer(benchmark::State& state) {
  const int64_t batch = state.range(0), steps = state.range(1), features = state.range(2);
  nnkit::LSTM lstm({.units = kUnits});
  nnkit::Rng rng(1);
  lstm.build({steps, features}, rng);
  nnkit::Tensor x = random_tensor({batch, steps, features}, 2);
  for (auto _ : state) {
    nnkit::Tensor y = lstm.forward(x, nnkit::Mode::Infer);
    benchmark::DoNotOptimize(y.data());
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["windows/s"] = benchmark::Counter(n * batch, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(gemm_flops(batch, steps, features) * n, benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}

// One step() of N streams at once: x_t [N, F] -> h [N, H], the state carried in the layer
// from step to step (bounded: h in (−1, 1), and c settles under a constant input).
template <typename Layer>
void step_streams(benchmark::State& state) {
  const int64_t batch = state.range(0), features = state.range(1);
  Layer layer({.units = kUnits});
  nnkit::Rng rng(1);
  layer.build({64, features}, rng);
  nnkit::Tensor x_t = random_tensor({batch, features}, 2);
  for (auto _ : state) {
    nnkit::Tensor h = layer.step(x_t);
    benchmark::DoNotOptimize(h.data());
  }
  state.counters["steps/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["streams/s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                   benchmark::Counter::kIsRate);
}

void BM_LSTMStep(benchmark::State& state) { step_streams<nnkit::LSTM>(state); }
void BM_GRUStep(benchmark::State& state) { step_streams<nnkit::GRU>(state); }

// The same step through the model a user streams with: the flagship forecaster (LSTM(128),
// Dense(1)), Sequential::predict_step, the head included.
void BM_ModelPredictStep(benchmark::State& state) {
  nnkit::Sequential model({.input_shape = {64, 6}, .seed = 1});
  model.add(nnkit::LSTM({.units = kUnits}));
  model.add(nnkit::Dense({.units = 1}));
  nnkit::Tensor x_t = random_tensor({1, 6}, 2);
  for (auto _ : state) {
    nnkit::Tensor y = model.predict_step(x_t);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["steps/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_LSTMTrainStep)
    ->Args({1, 64, 6})
    ->Args({32, 64, 6})
    ->Args({64, 128, 32})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK(BM_LSTMInfer)->Args({1, 64, 6})->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_LSTMStep)
    ->ArgsProduct({{1, 2, 8, 32, 64}, {6}})
    ->Unit(benchmark::kNanosecond)
    ->UseRealTime();
BENCHMARK(BM_GRUStep)
    ->ArgsProduct({{1, 2, 8, 32, 64}, {6}})
    ->Unit(benchmark::kNanosecond)
    ->UseRealTime();
BENCHMARK(BM_ModelPredictStep)->Unit(benchmark::kNanosecond)->UseRealTime();
BENCHMARK_MAIN();
