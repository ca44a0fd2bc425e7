// Activation functions by Keras name, and their forward and backward kernels on raw arrays.
// The kernels are branch-free loops that GCC vectorises (exp, expm1 and log1p are computed by
// inline polynomials, because glibc's vector math is only declared under -ffast-math), split
// over OpenMP threads for large arrays. The *_reference versions are plain scalar loops over
// <cmath>, kept to test the fast ones against. Allocate nothing, throw nothing.
#pragma once

#include <cstdint>
#include <string>

namespace nnkit {

enum class Activation {
  linear,        // x
  sigmoid,       // 1 / (1 + e^−x), stable for large |x|
  tanh,          // tanh x
  relu,          // max(x, 0)
  leaky_relu,    // x > 0 ? x : alpha·x (alpha 0.3 by default, as Keras's LeakyReLU)
  elu,           // x > 0 ? x : alpha·(e^x − 1) (alpha 1 by default)
  selu,          // scale·(x > 0 ? x : alpha·(e^x − 1)), the fixed constants of Klambauer et al.
  swish,         // x·sigmoid(x) (also called silu)
  softplus,      // log(1 + e^x), as max(x, 0) + log1p(e^−|x|) so it neither overflows nor rounds
  softsign,      // x / (1 + |x|)
  hard_sigmoid,  // clip((x + 3) / 6, 0, 1), as PyTorch and Keras 3
  softmax,  // e^x / Σ e^x over the last axis (each row), stable: the row maximum is subtracted
};

inline constexpr double kSeluAlpha = 1.6732632423543772;
inline constexpr double kSeluScale = 1.0507009873554805;

// "relu" -> Activation::relu. Also accepts "silu" for swish. Throws ValueError naming the valid
// names on anything else.
Activation activation_from_name(const std::string& name);
// Activation::relu -> "relu" (the name activation_from_name() takes).
std::string activation_name(Activation activation);
// True for leaky_relu and elu, the two activations whose alpha is a free parameter.
bool activation_has_alpha(Activation activation);
// The alpha used when none is given: 0.3 for leaky_relu, 1 for elu, 0 for the others.
float activation_default_alpha(Activation activation);
// True when activation_backward() reads x (the pre-activation) as well as y: leaky_relu and elu
// (alpha may be negative, so y's sign does not tell the branch), hard_sigmoid (its kinks at ±3
// exactly), swish and softplus. Layers use it to keep only what backward needs.
bool activation_backward_reads_input(Activation activation);

// y = f(x) for [rows, cols] arrays; only softmax looks at the row structure (it normalises
// each row of cols values). alpha is used by leaky_relu and elu only. y may alias x.
void activation_forward(Activation activation, float alpha, int64_t rows, int64_t cols,
                        const float* x, float* y);
// dx = dy · f'(x), or for softmax dx = y ⊙ (dy − Σ_row dy ⊙ y). x is read only when
// activation_backward_reads_input() (pass nullptr otherwise); y, the forward's output, is read
// for every activation but linear. Derivatives at the kinks are those of PyTorch: relu' (0) = 0,
// leaky_relu'(0) = alpha, hard_sigmoid' = 1/6 strictly inside (−3, 3). dx may alias dy.
void activation_backward(Activation activation, float alpha, int64_t rows, int64_t cols,
                         const float* x, const float* y, const float* dy, float* dx);

// Scalar loops over <cmath>; the backward reference works from x only (x must be given) and
// differentiates independently of the forward's output.
void activation_forward_reference(Activation activation, float alpha, int64_t rows, int64_t cols,
                                  const float* x, float* y);
void activation_backward_reference(Activation activation, float alpha, int64_t rows, int64_t cols,
                                   const float* x, const float* dy, float* dx);

}  // namespace nnkit
