// Helpers shared by the layers' implementations: activation arguments, shape messages and
// checks. Private to src/layers/.
#pragma once

#include <optional>
#include <string>

#include "nnkit/kernels/activations.h"
#include "nnkit/tensor.h"

namespace nnkit::detail {

// activation_from_name() with the layer named in the error.
Activation parse_activation(const std::string& who, const std::string& name);
// The given alpha, or the activation's default; throws ValueError when alpha is given for an
// activation that has none.
float resolve_alpha(const std::string& who, Activation activation, std::optional<float> alpha);

// "[N, 28, 28]": a per-sample shape with the batch dimension written as N.
std::string batch_shape_string(const Shape& per_sample);

// Throws ShapeError unless x is [batch, ...per_sample]; hint, when given, ends the message
// after "; ".
void check_batch_shape(const std::string& who, const Shape& per_sample, const Tensor& x,
                       const std::string& hint = "");
// Throws ShapeError unless dy has the shape of the forward's output.
void check_gradient_shape(const std::string& who, const Shape& expected, const Tensor& dy);
// Throws ValueError when forward() runs before build().
void check_built(const std::string& who, bool built);
// Throws ValueError when backward() runs without a cached forward(x, Mode::Train).
void check_forward_cache(const std::string& who, bool cached);

}  // namespace nnkit::detail
