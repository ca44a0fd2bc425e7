// oneDNN's own LSTM and GRU primitives, trained as nnkit trains its layers: the bar the issue
// names ("oneDNN 2.6 LSTM primitive, fwd+bwd") measured on this machine, for the configurations
// of `nnkit bench` and bench/compare_pytorch.py.
//
// One iteration is what a training step of the recurrent layers costs with the primitives:
// every layer's forward (forward_training, which keeps the workspace backward reads), the
// weights reordered into the layout the backward primitive wants (they change every step in
// training, so a real loop pays that too), and every layer's backward, weight gradients
// included. oneDNN's backward always computes the input gradient, layer 1's too, which nnkit
// and PyTorch skip (a GEMM of T·N × I × gates·H: 2.6% of the stacked step's arithmetic, none
// of the others'). The Dense head, the loss and the SGD step are left out (under 0.1% of nnkit's
// step). Layers of different input widths are separate primitives (oneDNN stacks layers in one only
// when every layer's input is as wide as its output). GRU is oneDNN's lbr_gru, PyTorch's GRU.
// Threads: OpenMP's (OMP_NUM_THREADS), which oneDNN follows.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Type = memory::data_type;

// Input features I, units H, layers, batch N, steps T: as RNN_CONFIGS in compare_pytorch.py.
struct Config {
  int64_t features, units, layers, batch, steps;
};
const Config kConfigs[] = {
    {6, 128, 1, 1, 64},      // 0 reference
    {6, 128, 1, 32, 64},     // 1 batch32
    {64, 256, 2, 64, 100},   // 2 stacked
    {256, 512, 1, 128, 50},  // 3 wide
};

memory::desc plain(const memory::dims& dims, Tag tag) { return {dims, Type::f32, tag}; }

// Memory of a descriptor, its values small and nonzero (the speed does not depend on them).
memory filled(const memory::desc& md, const dnnl::engine& engine) {
  memory m(md, engine);
  float* data = static_cast<float*>(m.get_data_handle());
  const size_t count = md.get_size() / sizeof(float);
  for (size_t i = 0; i < count; ++i) data[i] = 0.01f * static_cast<float>(i % 97) - 0.48f;
  return m;
}

// One recurrent layer as a forward and a backward primitive with every memory they use.
struct Layer {
  dnnl::primitive forward, backward;
  std::unordered_map<int, memory> forward_args, backward_args;
  // The weights as the forward keeps them, reordered per step into the backward's layout.
  memory weights_layer, weights_iter, weights_layer_bwd, weights_iter_bwd;
  dnnl::reorder to_backward_layer, to_backward_iter;
};

template <typename Forward, typename Backward>
Layer make_layer(const dnnl::engine& engine, int64_t gates, int64_t bias_gates, int64_t features,
                 int64_t units, int64_t batch, int64_t steps) {
  constexpr bool lstm = std::is_same_v<Forward, dnnl::lstm_forward>;
  const auto dir = dnnl::rnn_direction::unidirectional_left2right;
  const auto src = plain({steps, batch, features}, Tag::tnc);
  const auto dst = plain({steps, batch, units}, Tag::tnc);
  const auto state = plain({1, 1, batch, units}, Tag::ldnc);
  const auto bias = plain({1, 1, bias_gates, units}, Tag::ldgo);
  const auto any_layer = plain({1, 1, features, gates, units}, Tag::any);
  const auto any_iter = plain({1, 1, units, gates, units}, Tag::any);

  Layer layer;
  auto setup = [&](const auto& fwd_pd, const auto& bwd_pd) {
    layer.weights_layer = filled(fwd_pd.weights_layer_desc(), engine);
    layer.weights_iter = filled(fwd_pd.weights_iter_desc(), engine);
    layer.weights_layer_bwd = memory(bwd_pd.weights_layer_desc(), engine);
    layer.weights_iter_bwd = memory(bwd_pd.weights_iter_desc(), engine);
    layer.to_backward_layer = dnnl::reorder(layer.weights_layer, layer.weights_layer_bwd);
    layer.to_backward_iter = dnnl::reorder(layer.weights_iter, layer.weights_iter_bwd);
    const memory src_m = filled(src, engine), bias_m = filled(bias, engine);
    const memory dst_m = filled(dst, engine), state_m = filled(state, engine);
    const memory workspace(fwd_pd.workspace_desc(), engine);
    layer.forward_args = {{DNNL_ARG_SRC_LAYER, src_m},
                          {DNNL_ARG_SRC_ITER, state_m},
                          {DNNL_ARG_WEIGHTS_LAYER, layer.weights_layer},
                          {DNNL_ARG_WEIGHTS_ITER, layer.weights_iter},
                          {DNNL_ARG_BIAS, bias_m},
                          {DNNL_ARG_DST_LAYER, dst_m},
                          {DNNL_ARG_DST_ITER, filled(state, engine)},
                          {DNNL_ARG_WORKSPACE, workspace}};
    layer.backward_args = {
        {DNNL_ARG_SRC_LAYER, src_m},
        {DNNL_ARG_SRC_ITER, state_m},
        {DNNL_ARG_WEIGHTS_LAYER, layer.weights_layer_bwd},
        {DNNL_ARG_WEIGHTS_ITER, layer.weights_iter_bwd},
        {DNNL_ARG_BIAS, bias_m},
        {DNNL_ARG_DST_LAYER, dst_m},
        {DNNL_ARG_DST_ITER, layer.forward_args.at(DNNL_ARG_DST_ITER)},
        {DNNL_ARG_WORKSPACE, workspace},
        {DNNL_ARG_DIFF_SRC_LAYER, filled(src, engine)},
        {DNNL_ARG_DIFF_SRC_ITER, filled(state, engine)},
        {DNNL_ARG_DIFF_WEIGHTS_LAYER, filled(bwd_pd.diff_weights_layer_desc(), engine)},
        {DNNL_ARG_DIFF_WEIGHTS_ITER, filled(bwd_pd.diff_weights_iter_desc(), engine)},
        {DNNL_ARG_DIFF_BIAS, filled(bias, engine)},
        {DNNL_ARG_DIFF_DST_LAYER, filled(dst, engine)},
        {DNNL_ARG_DIFF_DST_ITER, filled(state, engine)}};
    if constexpr (lstm) {
      const memory c = filled(state, engine), c_out = filled(state, engine);
      layer.forward_args.insert({{DNNL_ARG_SRC_ITER_C, c}, {DNNL_ARG_DST_ITER_C, c_out}});
      layer.backward_args.insert({{DNNL_ARG_SRC_ITER_C, c},
                                  {DNNL_ARG_DST_ITER_C, c_out},
                                  {DNNL_ARG_DIFF_SRC_ITER_C, filled(state, engine)},
                                  {DNNL_ARG_DIFF_DST_ITER_C, filled(state, engine)}});
    }
    layer.forward = dnnl::primitive(fwd_pd);
    layer.backward = dnnl::primitive(bwd_pd);
  };
  if constexpr (lstm) {
    typename Forward::desc fwd(dnnl::prop_kind::forward_training, dir, src, state, state, any_layer,
                               any_iter, bias, dst, state, state);
    typename Forward::primitive_desc fwd_pd(fwd, engine);
    typename Backward::desc bwd(dnnl::prop_kind::backward, dir, src, state, state, any_layer,
                                any_iter, bias, dst, state, state, src, state, state, any_layer,
                                any_iter, bias, dst, state, state);
    typename Backward::primitive_desc bwd_pd(bwd, engine, fwd_pd);
    setup(fwd_pd, bwd_pd);
  } else {
    typename Forward::desc fwd(dnnl::prop_kind::forward_training, dir, src, state, any_layer,
                               any_iter, bias, dst, state);
    typename Forward::primitive_desc fwd_pd(fwd, engine);
    typename Backward::desc bwd(dnnl::prop_kind::backward, dir, src, state, any_layer, any_iter,
                                bias, dst, state, src, state, any_layer, any_iter, bias, dst,
                                state);
    typename Backward::primitive_desc bwd_pd(bwd, engine, fwd_pd);
    setup(fwd_pd, bwd_pd);
  }
  return layer;
}

// A training step's recurrent part: forward through the layers, backward through them.
void train_steps(benchmark::State& state, bool lstm) {
  const Config& c = kConfigs[state.range(0)];
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::vector<Layer> layers;
  for (int64_t l = 0; l < c.layers; ++l) {
    const int64_t features = l == 0 ? c.features : c.units;
    layers.push_back(lstm ? make_layer<dnnl::lstm_forward, dnnl::lstm_backward>(
                                engine, 4, 4, features, c.units, c.batch, c.steps)
                          : make_layer<dnnl::lbr_gru_forward, dnnl::lbr_gru_backward>(
                                engine, 3, 4, features, c.units, c.batch, c.steps));
  }
  for (auto _ : state) {
    for (Layer& layer : layers) layer.forward.execute(stream, layer.forward_args);
    for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
      it->to_backward_layer.execute(stream, it->weights_layer, it->weights_layer_bwd);
      it->to_backward_iter.execute(stream, it->weights_iter, it->weights_iter_bwd);
      it->backward.execute(stream, it->backward_args);
    }
    stream.wait();
  }
}

void BM_OneDnnLSTMTrainStep(benchmark::State& state) { train_steps(state, true); }
void BM_OneDnnGRUTrainStep(benchmark::State& state) { train_steps(state, false); }

// Arg: the configuration's index in kConfigs (0 reference, 1 batch32, 2 stacked, 3 wide).
BENCHMARK(BM_OneDnnLSTMTrainStep)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OneDnnGRUTrainStep)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
