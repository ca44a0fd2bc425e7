#include "nnkit/layers/layer.h"

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

Tensor Layer::backward_preactivation(const Tensor& /*dz*/) {
  throw ValueError(type() + " has no fused output activation");
}

Tensor Layer::propagate_mask(const Tensor& /*x*/, Tensor mask) {
  const bool keeps_steps = !mask.empty() && input_shape_.size() >= 2 && output_shape_.size() >= 2 &&
                           output_shape_[0] == input_shape_[0];
  return keeps_steps ? mask : Tensor();
}

void Layer::zero_grad() {
  for (Param* p : params()) {
    if (p->trainable) p->grad.zero();
  }
}

int64_t Layer::param_count(bool trainable_only) {
  int64_t n = 0;
  for (Param* p : params()) {
    if (!trainable_only || p->trainable) n += p->value.size();
  }
  return n;
}

void check_input_shape(const std::string& who, const Shape& expected, const Tensor& x) {
  bool ok = x.rank() == static_cast<int>(expected.size()) + 1;
  for (std::size_t i = 0; ok && i < expected.size(); ++i) ok = x.shape()[i + 1] == expected[i];
  if (!ok) {
    std::string want = "[N";
    for (int64_t d : expected) want += fmt::format(", {}", d);
    want += "]";
    throw ShapeError(
        fmt::format("{}: expected input {}, got {}", who, want, shape_to_string(x.shape())));
  }
}

}  // namespace nnkit
