// The perceptron of the design notes: one M-P neuron, y = f(w·x + b) with the step activation
// f(z) = 1 if z > 0, else 0 (the notes: "fires above the threshold, otherwise inhibited"; the
// threshold θ is −b), trained by Rosenblatt's rule, for each sample in turn,
//   w ← w + η·(t − y)·x,   b ← b + η·(t − y),
// which changes the weights only on a misclassified sample. On a linearly separable training
// set it stops after finitely many updates (the perceptron convergence theorem); on one that is
// not, such as XOR, no epoch is ever free of errors.
#pragma once

#include <cstdint>
#include <vector>

#include "nnkit/tensor.h"

namespace nnkit {

struct PerceptronOptions {
  int64_t inputs = 2;          // features per sample; >= 1
  float learning_rate = 1.0f;  // η > 0
  int64_t max_epochs = 100;    // >= 1
  // Visit the samples in a new random order each epoch (seeded); otherwise in data order.
  bool shuffle = false;
  uint64_t seed = 42;
};

struct PerceptronResult {
  bool converged = false;  // the last epoch misclassified nothing
  int64_t epochs = 0;      // epochs run
  // Per epoch, the samples misclassified when visited (the updates made in that epoch).
  std::vector<int64_t> errors_per_epoch;
};

class Perceptron {
 public:
  // Weights and bias start at 0. Throws ValueError for inputs < 1, learning_rate <= 0 or not
  // finite, max_epochs < 1.
  explicit Perceptron(PerceptronOptions options = {});

  // x [samples, inputs] finite, t [samples] or [samples, 1] of 0 and 1, samples >= 1. Runs
  // epochs until one makes no error or max_epochs. Continues from the current weights. Throws
  // ShapeError for mismatched shapes, ValueError for a target other than 0 or 1 or a value
  // that is not finite (naming the sample).
  PerceptronResult train(const Tensor& x, const Tensor& t);

  // x [samples, inputs] -> [samples] of 0 and 1. Throws ShapeError.
  Tensor predict(const Tensor& x) const;

  // w [inputs]; b.
  Tensor& weights() { return weights_; }
  const Tensor& weights() const { return weights_; }
  float& bias() { return bias_; }
  float bias() const { return bias_; }

 private:
  float output(const float* x) const;

  PerceptronOptions options_;
  Tensor weights_;
  float bias_ = 0;
};

}  // namespace nnkit
