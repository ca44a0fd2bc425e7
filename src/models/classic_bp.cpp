#include "nnkit/models/classic_bp.h"

#include <cmath>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {
float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }
}  // namespace

ClassicBP::ClassicBP(ClassicBPOptions options) : options_(std::move(options)), rng_(options_.seed) {
  const auto& sizes = options_.layer_sizes;
  if (sizes.size() < 2)
    throw ValueError("ClassicBP: layer_sizes needs an input and an output size");
  for (int64_t s : sizes) {
    if (s < 1) throw ValueError("ClassicBP: every layer size must be >= 1");
  }
  for (std::size_t l = 1; l < sizes.size(); ++l) {
    Tensor w({sizes[l], sizes[l - 1]}), b({sizes[l]});
    for (float& v : w) v = rng_.uniform(-1.0f, 1.0f);
    for (float& v : b) v = rng_.uniform(-1.0f, 1.0f);
    weights_.push_back(std::move(w));
    biases_.push_back(std::move(b));
  }
}

void ClassicBP::forward_sample(const float* x, std::vector<std::vector<float>>& a) const {
  const auto& sizes = options_.layer_sizes;
  a.resize(sizes.size());
  a[0].assign(x, x + sizes[0]);
  for (std::size_t l = 1; l < sizes.size(); ++l) {
    a[l].resize(static_cast<std::size_t>(sizes[l]));
    const Tensor& w = weights_[l - 1];
    for (int64_t j = 0; j < sizes[l]; ++j) {
      float z = biases_[l - 1][j];
      for (int64_t i = 0; i < sizes[l - 1]; ++i) z += w[j * sizes[l - 1] + i] * a[l - 1][i];
      a[l][j] = sigmoid(z);
    }
  }
}

double ClassicBP::error(const Tensor& x, const Tensor& t) const {
  std::vector<std::vector<float>> a;
  int64_t outputs = options_.layer_sizes.back();
  double sum = 0;
  for (int64_t s = 0; s < x.dim(0); ++s) {
    forward_sample(x.data() + s * x.dim(1), a);
    for (int64_t o = 0; o < outputs; ++o) {
      double e = t[s * outputs + o] - a.back()[o];
      sum += 0.5 * e * e;
    }
  }
  return sum / static_cast<double>(x.dim(0));
}

ClassicBPResult ClassicBP::train(const Tensor& x, const Tensor& t) {
  const auto& sizes = options_.layer_sizes;
  if (x.rank() != 2 || x.dim(1) != sizes.front() || t.rank() != 2 || t.dim(1) != sizes.back() ||
      x.dim(0) != t.dim(0) || x.dim(0) == 0) {
    throw ShapeError(fmt::format("ClassicBP: expected x [N, {}] and t [N, {}], got {} and {}",
                                 sizes.front(), sizes.back(), shape_to_string(x.shape()),
                                 shape_to_string(t.shape())));
  }
  std::size_t layers = sizes.size();
  std::vector<std::vector<float>> a, delta(layers);
  for (std::size_t l = 1; l < layers; ++l) delta[l].resize(static_cast<std::size_t>(sizes[l]));
  const float eta = options_.learning_rate;

  ClassicBPResult result;
  result.error = error(x, t);
  while (result.error >= options_.precision && result.iterations < options_.max_iterations) {
    // 1. A random sample, forward.
    int64_t s = static_cast<int64_t>(rng_.below(static_cast<uint64_t>(x.dim(0))));
    forward_sample(x.data() + s * sizes[0], a);
    // 2. Output-layer delta: derivative of ½(t − o)² through the sigmoid.
    for (int64_t o = 0; o < sizes.back(); ++o) {
      float out = a.back()[o];
      delta.back()[o] = (out - t[s * sizes.back() + o]) * out * (1.0f - out);
    }
    // 3. Hidden-layer deltas, back to front, with the weights before this step's update.
    for (std::size_t l = layers - 2; l >= 1; --l) {
      const Tensor& w = weights_[l];  // [sizes[l+1], sizes[l]]
      for (int64_t j = 0; j < sizes[l]; ++j) {
        float sum = 0;
        for (int64_t k = 0; k < sizes[l + 1]; ++k) sum += w[k * sizes[l] + j] * delta[l + 1][k];
        delta[l][j] = sum * a[l][j] * (1.0f - a[l][j]);
      }
    }
    // 4. Update every weight: w −= η·δ·input.
    for (std::size_t l = 1; l < layers; ++l) {
      Tensor& w = weights_[l - 1];
      for (int64_t j = 0; j < sizes[l]; ++j) {
        for (int64_t i = 0; i < sizes[l - 1]; ++i)
          w[j * sizes[l - 1] + i] -= eta * delta[l][j] * a[l - 1][i];
        biases_[l - 1][j] -= eta * delta[l][j];
      }
    }
    // 5. Global error.
    ++result.iterations;
    result.error = error(x, t);
  }
  result.converged = result.error < options_.precision;
  return result;
}

Tensor ClassicBP::predict(const Tensor& x) const {
  const auto& sizes = options_.layer_sizes;
  if (x.rank() != 2 || x.dim(1) != sizes.front()) {
    throw ShapeError(fmt::format("ClassicBP: expected x [N, {}], got {}", sizes.front(),
                                 shape_to_string(x.shape())));
  }
  Tensor out({x.dim(0), sizes.back()});
  std::vector<std::vector<float>> a;
  for (int64_t s = 0; s < x.dim(0); ++s) {
    forward_sample(x.data() + s * sizes[0], a);
    for (int64_t o = 0; o < sizes.back(); ++o) out[s * sizes.back() + o] = a.back()[o];
  }
  return out;
}

}  // namespace nnkit
