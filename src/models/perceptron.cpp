#include "nnkit/models/perceptron.h"

#include <cmath>
#include <numeric>
#include <utility>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/random.h"

namespace nnkit {

Perceptron::Perceptron(PerceptronOptions options) : options_(std::move(options)) {
  if (options_.inputs < 1)
    throw ValueError(fmt::format("Perceptron: inputs must be >= 1, got {}", options_.inputs));
  if (!(options_.learning_rate > 0) || !std::isfinite(options_.learning_rate)) {
    throw ValueError(fmt::format("Perceptron: learning_rate must be a finite number > 0, got {}",
                                 options_.learning_rate));
  }
  if (options_.max_epochs < 1) {
    throw ValueError(
        fmt::format("Perceptron: max_epochs must be >= 1, got {}", options_.max_epochs));
  }
  weights_ = Tensor({options_.inputs});
}

float Perceptron::output(const float* x) const {
  float z = bias_;
  for (int64_t i = 0; i < options_.inputs; ++i) z += weights_[i] * x[i];
  return z > 0 ? 1.0f : 0.0f;
}

PerceptronResult Perceptron::train(const Tensor& x, const Tensor& t) {
  const int64_t inputs = options_.inputs;
  const bool t_ok = (t.rank() == 1 || (t.rank() == 2 && t.dim(1) == 1)) && t.dim(0) == x.dim(0);
  if (x.rank() != 2 || x.dim(1) != inputs || x.dim(0) == 0 || !t_ok) {
    throw ShapeError(fmt::format("Perceptron: expected x [N, {}] (N >= 1) and t [N], got {} and {}",
                                 inputs, shape_to_string(x.shape()), shape_to_string(t.shape())));
  }
  const int64_t samples = x.dim(0);
  for (int64_t s = 0; s < samples; ++s) {
    if (t[s] != 0.0f && t[s] != 1.0f) {
      throw ValueError(
          fmt::format("Perceptron: target of sample {} is {}; expected 0 or 1", s, t[s]));
    }
    for (int64_t i = 0; i < inputs; ++i) {
      if (!std::isfinite(x[s * inputs + i])) {
        throw ValueError(fmt::format("Perceptron: input {} of sample {} is not finite", i, s));
      }
    }
  }

  Rng rng(options_.seed);
  std::vector<int64_t> order(static_cast<std::size_t>(samples));
  std::iota(order.begin(), order.end(), 0);
  const float eta = options_.learning_rate;
  PerceptronResult result;
  while (result.epochs < options_.max_epochs) {
    if (options_.shuffle) {
      for (int64_t k = samples - 1; k > 0; --k)
        std::swap(order[k], order[rng.below(static_cast<uint64_t>(k + 1))]);
    }
    int64_t errors = 0;
    for (int64_t s : order) {
      const float* xs = x.data() + s * inputs;
      const float delta = t[s] - output(xs);  // 0, or ±1 on a mistake
      if (delta == 0) continue;
      ++errors;
      for (int64_t i = 0; i < inputs; ++i) weights_[i] += eta * delta * xs[i];
      bias_ += eta * delta;
    }
    ++result.epochs;
    result.errors_per_epoch.push_back(errors);
    if (errors == 0) {
      result.converged = true;
      break;
    }
  }
  return result;
}

Tensor Perceptron::predict(const Tensor& x) const {
  if (x.rank() != 2 || x.dim(1) != options_.inputs) {
    throw ShapeError(fmt::format("Perceptron: expected x [N, {}], got {}", options_.inputs,
                                 shape_to_string(x.shape())));
  }
  Tensor y({x.dim(0)});
  for (int64_t s = 0; s < x.dim(0); ++s) y[s] = output(x.data() + s * options_.inputs);
  return y;
}

}  // namespace nnkit
