// The shared finite-difference gradient check. The scalar checked is L = Σ r ⊙ f(x) for a
// fixed random r (so every output element matters with a different weight), accumulated in
// double; numerical derivatives are central differences. The comparison is the relative
// error of whole gradient vectors, ‖analytic − numeric‖ / (‖analytic‖ + ‖numeric‖), which
// stays meaningful when individual elements are near zero.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nnkit/layers/layer.h"
#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit::testing {

struct GradCheckOptions {
  float step = 1e-2f;  // central-difference step (float32 forward: small steps drown in rounding)
  double tolerance = 1e-3;  // on the relative error defined above
  Mode mode = Mode::Train;
};

// Relative error between two gradient vectors, as above (0 when both are zero).
double relative_error(const std::vector<double>& analytic, const std::vector<double>& numeric);

// Random tensor with values uniform in [low, high), drawn from rng.
Tensor random_tensor(const Shape& shape, Rng& rng, float low = -1.0f, float high = 1.0f);

// Checks layer.backward() against finite differences for the input and every trainable
// parameter, with GoogleTest expectations naming the failing tensor. The layer must be
// built; forward must be deterministic for a fixed input (reseed dropout-like layers).
void expect_layer_gradients(Layer& layer, const Tensor& x, const GradCheckOptions& options = {});

// The same for any function with a hand-written backward: forward(x) -> y, backward(dy) ->
// dx (run right after forward(x)); params are checked too and their grads zeroed first.
void expect_gradients(const std::function<Tensor(const Tensor&)>& forward,
                      const std::function<Tensor(const Tensor&)>& backward, const Tensor& x,
                      const std::vector<Param*>& params, const GradCheckOptions& options = {});

}  // namespace nnkit::testing
