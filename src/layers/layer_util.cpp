#include "layer_util.h"

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit::detail {

Activation parse_activation(const std::string& who, const std::string& name) {
  try {
    return activation_from_name(name);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: {}", who, e.what()));
  }
}

float resolve_alpha(const std::string& who, Activation activation, std::optional<float> alpha) {
  if (alpha && !activation_has_alpha(activation)) {
    throw ValueError(fmt::format("{}: alpha applies to leaky_relu and elu only, not to {}", who,
                                 activation_name(activation)));
  }
  return alpha.value_or(activation_default_alpha(activation));
}

std::string batch_shape_string(const Shape& per_sample) {
  std::string s = "[N";
  for (int64_t d : per_sample) s += fmt::format(", {}", d);
  return s + "]";
}

void check_batch_shape(const std::string& who, const Shape& per_sample, const Tensor& x,
                       const std::string& hint) {
  bool ok = x.rank() == static_cast<int>(per_sample.size()) + 1;
  for (std::size_t i = 0; ok && i < per_sample.size(); ++i) ok = x.shape()[i + 1] == per_sample[i];
  if (ok) return;
  throw ShapeError(fmt::format("{}: expected input {}, got {}{}", who,
                               batch_shape_string(per_sample), shape_to_string(x.shape()),
                               hint.empty() ? "" : "; " + hint));
}

void check_gradient_shape(const std::string& who, const Shape& expected, const Tensor& dy) {
  if (dy.shape() == expected) return;
  throw ShapeError(
      fmt::format("{}: backward expected a gradient of shape {} (the output's), got {}", who,
                  shape_to_string(expected), shape_to_string(dy.shape())));
}

void check_built(const std::string& who, bool built) {
  if (built) return;
  throw ValueError(fmt::format("{}: forward() before build()", who));
}

void check_forward_cache(const std::string& who, bool cached) {
  if (cached) return;
  throw ValueError(fmt::format("{}: backward() needs a forward(x, Mode::Train) first", who));
}

}  // namespace nnkit::detail
