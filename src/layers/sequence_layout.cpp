#include "sequence_layout.h"

#include <algorithm>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/error.h"

namespace nnkit::detail {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelThreshold = 1 << 15;
}  // namespace

void to_time_major(int64_t batch, int64_t steps, int64_t width, bool reverse, const float* x,
                   float* out) {
#pragma omp parallel for if (batch * steps * width > kParallelThreshold)
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    for (int64_t b = 0; b < batch; ++b) {
      std::copy_n(x + (b * steps + t) * width, width, out + (s * batch + b) * width);
    }
  }
}

void from_time_major(int64_t batch, int64_t steps, int64_t width, bool reverse, const float* x,
                     float* out) {
#pragma omp parallel for if (batch * steps * width > kParallelThreshold)
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t t = reverse ? steps - 1 - s : s;
    for (int64_t b = 0; b < batch; ++b) {
      std::copy_n(x + (s * batch + b) * width, width, out + (b * steps + t) * width);
    }
  }
}

void add_step(int64_t batch, int64_t steps, int64_t width, int64_t step, const float* seq,
              float* acc) {
  for (int64_t b = 0; b < batch; ++b) {
    const float* __restrict row = seq + (b * steps + step) * width;
    float* __restrict out = acc + b * width;
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) out[i] += row[i];
  }
}

void carry_masked_rows(int64_t batch, int64_t width, const float* mask, const float* prev,
                       float* out) {
  for (int64_t b = 0; b < batch; ++b) {
    if (mask[b] == 0.0f) std::copy_n(prev + b * width, width, out + b * width);
  }
}

void zero_masked_rows(int64_t batch, int64_t width, const float* mask, float* rows) {
  for (int64_t b = 0; b < batch; ++b) {
    if (mask[b] == 0.0f) std::fill_n(rows + b * width, width, 0.0f);
  }
}

bool reference_holds_data(const Tensor& mask, int64_t n, int64_t steps, int64_t t) {
  return mask.empty() || mask[n * steps + t] != 0.0f;
}

void check_reference_state(const std::string& who, const Tensor& x, int64_t units,
                           const Tensor& initial, const Tensor& mask, const Tensor& dfinal) {
  const Shape state{x.dim(0), units};
  if ((!initial.empty() && initial.shape() != state) ||
      (!dfinal.empty() && dfinal.shape() != state) ||
      (!mask.empty() && mask.shape() != Shape{x.dim(0), x.dim(1)})) {
    throw ShapeError(
        fmt::format("{}: the reference's initial state, mask or final-state "
                    "gradient does not fit the input {}",
                    who, shape_to_string(x.shape())));
  }
}

void ensure_shape(Tensor& t, const Shape& shape) {
  if (t.shape() != shape) t = Tensor::uninitialized(shape);
}

void check_sequence_shape(const std::string& who, const Shape& input) {
  if (input.size() == 2 && input[0] > 0 && input[1] > 0) return;
  throw ShapeError(fmt::format(
      "{}: expected input [N, T, F] (batch, time steps, features), got per-sample shape {}", who,
      batch_shape_string(input)));
}

void check_sequence_input(const std::string& who, int64_t features, const Tensor& x) {
  if (x.rank() == 3 && x.dim(1) > 0 && x.dim(2) == features) return;
  throw ShapeError(
      fmt::format("{}: expected input [N, T, {}] (batch, time steps, features), got {}", who,
                  features, shape_to_string(x.shape())));
}

Activation parse_elementwise_activation(const std::string& who, const std::string& argument,
                                        const std::string& name) {
  Activation activation = parse_activation(who, name);
  if (activation == Activation::softmax) {
    throw ValueError(fmt::format(
        "{}: {} softmax is not element-wise; a recurrent layer's gates take element-wise "
        "activations such as tanh or sigmoid",
        who, argument));
  }
  return activation;
}

}  // namespace nnkit::detail
