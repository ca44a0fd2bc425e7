// Conv2DTranspose: the transposed convolution of a convolutional decoder, y = f(convᵀ(x, W) + b),
// with the activation f fused in. Each input pixel scatters its kernel-weighted values over a
// kh×kw window of the output, windows strides apart, so the maps grow by the strides. Keras's
// arguments and output sizes; PyTorch's layouts: images [N, C, H, W], "weight"
// [in_channels, filters, kh, kw] and "bias" [filters] (nn.ConvTranspose2d's names and layout).
// Output sizes (per axis, input size in, kernel k, stride s):
//   "valid": (in − 1)·s + max(k, s);  "same": in·s (the odd cropped row or column of the full
//   (in − 1)·s + k output is cropped at the bottom or right, as TensorFlow does);
//   with output_padding op: (in − 1)·s + k − 2·pad + op, pad = 0 ("valid") or k / 2 ("same"),
//   PyTorch's ConvTranspose2d(padding=pad, output_padding=op).
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/kernels/activations.h"
#include "nnkit/kernels/conv_transpose.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// Conv2DTranspose({.filters = 16, .kernel_size = {3, 3}, .strides = {2, 2}, .padding = "same"}).
// Pairs are [height, width].
struct Conv2DTransposeOptions {
  int64_t filters = 0;                          // output channels; required, > 0
  std::array<int64_t, 2> kernel_size = {0, 0};  // required, > 0
  std::array<int64_t, 2> strides = {1, 1};
  std::string padding = "valid";                              // "valid" or "same"
  std::optional<std::array<int64_t, 2>> output_padding = {};  // each in [0, strides)
  std::string activation = "linear";  // any name activation_from_name() takes but softmax
  std::optional<float> alpha = {};    // leaky_relu's slope or elu's alpha only
  bool use_bias = true;
  // glorot_uniform with Keras's fans: fan_in = filters·kh·kw, fan_out = in_channels·kh·kw.
  Initializer kernel_initializer = {.name = "glorot_uniform"};
  Initializer bias_initializer = {.name = "zeros"};
};

class Conv2DTranspose final : public Layer {
 public:
  // Throws ValueError on a non-positive filters, kernel_size or strides, an output_padding
  // outside [0, strides), an unknown padding or activation, softmax, or alpha for an activation
  // without one.
  explicit Conv2DTranspose(Conv2DTransposeOptions options);
  // {"type": "Conv2DTranspose", "filters": 16, "kernel_size": 3, ...}: kernel_size, strides and
  // output_padding take an integer or a pair. Throws ValueError on unknown or ill-typed
  // arguments, and on dilation_rate other than 1 (not implemented).
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Conv2DTranspose"; }
  // input: [C, H, W] -> [filters, out_h, out_w] (sizes above). Draws the weight, then the bias,
  // from rng. Throws ShapeError unless the input is an image [C, H, W] with positive sizes, or
  // when output_padding with "same" would leave no output.
  Shape build(const Shape& input, Rng& rng) override;
  // x: [batch, C, H, W] -> [batch, filters, out_h, out_w]. Train keeps x, and the
  // pre-activation and output where the activation's derivative needs them.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: [batch, filters, out_h, out_w] -> dx: [batch, C, H, W] (empty when
  // input_gradient_needed() is false). Adds into weight's and bias's grads.
  Tensor backward(const Tensor& dy) override;
  std::vector<Param*> params() override;  // "weight" [C, filters, kh, kw], then "bias" [filters]
  nlohmann::json config() const override;

  // "sigmoid" when that is the activation (so the loss's fused gradient applies).
  std::string output_activation() const override;
  Tensor backward_preactivation(const Tensor& dz) override;

  const Conv2DTransposeOptions& options() const { return options_; }

 private:
  std::string who() const;
  Conv2dGeometry geometry(int64_t batch) const;
  Tensor linear_backward(const Tensor& dz);

  Conv2DTransposeOptions options_;
  bool same_ = false;
  Activation activation_;
  float alpha_;
  // The convolution whose backward-data this layer's forward is (conv_transpose.h): batch 0
  // until build(); the batch is set per call.
  Conv2dGeometry geometry_;
  ConvTranspose2dKernel kernel_;
  Param weight_{"weight", Tensor(), Tensor()};
  Param bias_{"bias", Tensor(), Tensor()};
  // Forward cache (Train only), valid while cached_.
  bool cached_ = false;
  Tensor x_;   // input
  Tensor z_;   // pre-activation, when activation_backward_reads_input()
  Tensor y_;   // output, unless the activation is linear
  Tensor dz_;  // backward's scratch
};

}  // namespace nnkit
