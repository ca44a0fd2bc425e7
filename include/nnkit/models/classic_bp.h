// The classic backpropagation algorithm of the design notes, written out as they give it,
// one sample at a time: weights uniform in (−1, 1); each step picks a random sample, runs it
// forward through sigmoid layers, computes the output-layer delta δ = (o − t)·o·(1 − o) and
// the hidden-layer deltas δ_h = (Σ w·δ)·h·(1 − h), updates every weight by −η·δ·input, then
// computes the global error E over all samples; it stops when E < ε (the precision) or after
// M steps. It is the teaching version: Sequential with Dense layers and SGD(batch_size = 1)
// computes the same updates, faster, with every other option.
#pragma once

#include <cstdint>
#include <vector>

#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

struct ClassicBPOptions {
  std::vector<int64_t> layer_sizes = {2, 2, 1};  // input, hidden..., output
  float learning_rate = 0.5f;                    // η
  double precision = 1e-3;                       // ε: stop once E < ε
  int64_t max_iterations = 100000;               // M
  uint64_t seed = 42;
};

struct ClassicBPResult {
  bool converged = false;
  int64_t iterations = 0;
  double error = 0;  // E when training stopped
};

class ClassicBP {
 public:
  explicit ClassicBP(ClassicBPOptions options = {});

  // x [samples, inputs], t [samples, outputs] with targets in [0, 1].
  // E = 1/2 · Σ_samples Σ_outputs (t − o)² / samples, the notes' error function averaged.
  ClassicBPResult train(const Tensor& x, const Tensor& t);
  Tensor predict(const Tensor& x) const;
  double error(const Tensor& x, const Tensor& t) const;

  // weights[l] is [out, in] (PyTorch's layout), biases[l] is [out].
  std::vector<Tensor>& weights() { return weights_; }
  std::vector<Tensor>& biases() { return biases_; }

 private:
  // Activations of every layer for one sample; a[0] is the input.
  void forward_sample(const float* x, std::vector<std::vector<float>>& a) const;

  ClassicBPOptions options_;
  Rng rng_;
  std::vector<Tensor> weights_, biases_;
};

}  // namespace nnkit
