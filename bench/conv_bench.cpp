// The convolution kernels on the two convolutions of the Fashion-MNIST CNN (issue 4), batch 64:
//   layer 1: Conv2D 32 3×3 "same" on 1×28×28,  layer 2: Conv2D 64 3×3 "same" on 32×14×14.
// Arguments: algorithm (0 gemm = im2col + nnkit::gemm, 1 dnnl = oneDNN's direct convolution on its
// blocked layouts, reorders included, 2 dnnl_plain = oneDNN on NCHW, its im2col + GEMM),
// layer (1, 2). GFLOP/s counts 2·multiply-adds of the passes timed. Real time: both run on
// every OpenMP thread.
//   BM_ConvForward        forward, with bias
//   BM_ConvBackward       both backward passes (dx, and dw + dbias accumulated)
//   BM_ConvBackwardNoDx   the weight gradients alone: the first layer of a model, whose input
//                         gradient nobody reads
//   BM_ConvTrainStep      what training runs per batch: forward + backward, without dx on layer 1
//   BM_ConvTrainStepChannels  the same (with dx) for Conv2D 32 3×3 "same" on C×28×28, C = 3, 8,
//                         16: where oneDNN's blocked layouts start to pay
//   BM_Conv2DLayerTrainStep  the same through the Conv2D layer (ReLU, caches, allocations) with
//                         its automatic choice of algorithm
#include <benchmark/benchmark.h>

#include <vector>

#include "nnkit/kernels/conv.h"
#include "nnkit/layers/conv2d.h"
#include "nnkit/random.h"

namespace {

constexpr int64_t kBatch = 64;

// Layers 1 and 2 are the CNN's; a larger "layer" L is a probe of the channel count that the
// automatic choice turns on: Conv2D 32 3×3 "same" on L×28×28.
nnkit::Conv2dGeometry layer_geometry(int64_t layer) {
  const int64_t channels = layer == 1 ? 1 : layer == 2 ? 32 : layer;
  const int64_t size = layer == 2 ? 14 : 28, filters = layer == 2 ? 64 : 32;
  nnkit::ConvAxis axis = nnkit::conv_axis(size, 3, 1, 1, true);
  return {.batch = kBatch,
          .channels = channels,
          .height = size,
          .width = size,
          .filters = filters,
          .kernel_h = 3,
          .kernel_w = 3,
          .pad_top = axis.before,
          .pad_bottom = axis.after,
          .pad_left = axis.before,
          .pad_right = axis.after,
          .out_h = axis.out,
          .out_w = axis.out};
}

std::vector<float> random_values(int64_t n, uint64_t seed) {
  nnkit::Rng rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& e : v) e = rng.uniform(-1, 1);
  return v;
}

// The tensors of one layer, and which passes to time.
struct Setup {
  nnkit::Conv2dGeometry g;
  std::vector<float> x, w, bias, y, dy, dx, dw, dbias;
  explicit Setup(int64_t layer) : g(layer_geometry(layer)) {
    x = random_values(g.batch * g.channels * g.height * g.width, 1);
    w = random_values(g.filters * g.channels * 9, 2);
    bias = random_values(g.filters, 3);
    dy = random_values(g.batch * g.filters * g.out_h * g.out_w, 4);
    y.resize(dy.size());
    dx.resize(x.size());
    dw.resize(w.size());
    dbias.resize(bias.size());
  }
};

void run(benchmark::State& state, bool forward, bool backward, bool dx) {
  const auto algorithm = static_cast<nnkit::ConvAlgorithm>(state.range(0));
  Setup s(state.range(1));
  nnkit::Conv2dKernel kernel(algorithm);
  for (auto _ : state) {
    if (forward) kernel.forward(s.g, s.x.data(), s.w.data(), s.bias.data(), s.y.data());
    if (backward) {
      kernel.backward(s.g, s.x.data(), s.dy.data(), s.w.data(), dx ? s.dx.data() : nullptr,
                      s.dw.data(), s.dbias.data());
    }
    benchmark::ClobberMemory();
  }
  const double passes = (forward ? 1 : 0) + (backward ? (dx ? 2 : 1) : 0);
  state.counters["GFLOP/s"] = benchmark::Counter(
      passes * 2.0 * static_cast<double>(s.g.macs()) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  const char* names[] = {"gemm", "dnnl", "dnnl_plain"};
  state.SetLabel(names[state.range(0)]);
}

void BM_ConvForward(benchmark::State& state) { run(state, true, false, false); }
void BM_ConvBackward(benchmark::State& state) { run(state, false, true, true); }
void BM_ConvBackwardNoDx(benchmark::State& state) { run(state, false, true, false); }
void BM_ConvTrainStep(benchmark::State& state) { run(state, true, true, state.range(1) != 1); }

void BM_Conv2DLayerTrainStep(benchmark::State& state) {
  const nnkit::Conv2dGeometry g = layer_geometry(state.range(0));
  nnkit::Conv2D conv(
      {.filters = g.filters, .kernel_size = {3, 3}, .padding = "same", .activation = "relu"});
  nnkit::Rng rng(5);
  conv.build({g.channels, g.height, g.width}, rng);
  conv.set_input_gradient_needed(state.range(0) != 1);
  nnkit::Tensor x({g.batch, g.channels, g.height, g.width},
                  random_values(g.batch * g.channels * g.height * g.width, 6));
  nnkit::Tensor dy({g.batch, g.filters, g.out_h, g.out_w},
                   random_values(g.batch * g.filters * g.out_h * g.out_w, 7));
  for (auto _ : state) {
    nnkit::Tensor y = conv.forward(x, nnkit::Mode::Train);
    nnkit::Tensor dx = conv.backward(dy);
    benchmark::DoNotOptimize(dx.data());
  }
  const double passes = state.range(0) == 1 ? 2 : 3;
  state.counters["GFLOP/s"] = benchmark::Counter(
      passes * 2.0 * static_cast<double>(g.macs()) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void Channels(benchmark::internal::Benchmark* b) {
  b->ArgNames({"algorithm", "channels"});
  for (int64_t channels : {3, 8, 16})
    for (int64_t algorithm : {0, 1}) b->Args({algorithm, channels});
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void Layers(benchmark::internal::Benchmark* b) {
  b->ArgNames({"algorithm", "layer"});
  for (int64_t layer : {1, 2})
    for (int64_t algorithm : {0, 1, 2}) b->Args({algorithm, layer});
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_ConvForward)->Apply(Layers);
BENCHMARK(BM_ConvBackward)->Apply(Layers);
BENCHMARK(BM_ConvBackwardNoDx)->Apply(Layers);
BENCHMARK(BM_ConvTrainStep)->Apply(Layers);
BENCHMARK(BM_ConvTrainStep)->Name("BM_ConvTrainStepChannels")->Apply(Channels);
BENCHMARK(BM_Conv2DLayerTrainStep)
    ->ArgName("layer")
    ->Arg(1)
    ->Arg(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_MAIN();
