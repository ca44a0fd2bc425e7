// Conv2D: two-dimensional convolution over images, y = f(conv(x, W) + b), with the activation f
// fused in. Keras's arguments and defaults; PyTorch's layouts: images [N, C, H, W] (NCHW),
// "weight" [filters, C, kh, kw] and "bias" [filters]. Like both libraries it computes a
// cross-correlation (the kernel is not flipped). "same" padding follows Keras/TensorFlow for any
// stride: the output is ceil(in / stride) and an odd total padding puts its extra row or column
// at the bottom or right.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nnkit/initializers.h"
#include "nnkit/kernels/activations.h"
#include "nnkit/kernels/conv.h"
#include "nnkit/layers/layer.h"

namespace nnkit {

// Conv2D({.filters = 32, .kernel_size = {3, 3}, .padding = "same", .activation = "relu"}).
// Pairs are [height, width].
struct Conv2DOptions {
  int64_t filters = 0;                          // required, > 0
  std::array<int64_t, 2> kernel_size = {0, 0};  // required, > 0
  std::array<int64_t, 2> strides = {1, 1};
  std::string padding = "valid";  // "valid" or "same"
  std::array<int64_t, 2> dilation_rate = {1, 1};
  std::string activation = "linear";  // any name activation_from_name() takes; softmax is over
                                      // the channels, as Keras's (channels-last) Conv2D does
  std::optional<float> alpha = {};    // leaky_relu's slope or elu's alpha only
  bool use_bias = true;
  // glorot_uniform with Keras's fans: fan_in = C·kh·kw, fan_out = filters·kh·kw.
  Initializer kernel_initializer = {.name = "glorot_uniform"};
  Initializer bias_initializer = {.name = "zeros"};
};

class Conv2D final : public Layer {
 public:
  // Throws ValueError on a non-positive filters, kernel_size, strides or dilation_rate, on
  // strides > 1 together with dilation_rate > 1 (Keras refuses it too), an unknown padding or
  // activation, or alpha for an activation without one.
  explicit Conv2D(Conv2DOptions options);
  // {"type": "Conv2D", "filters": 32, "kernel_size": 3, ...}: kernel_size, strides and
  // dilation_rate take an integer or a pair. Throws ValueError on unknown or ill-typed arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Conv2D"; }
  // input: [C, H, W] -> [filters, out_h, out_w]. Draws the weight, then the bias, from rng.
  // Throws ShapeError unless the input is an image [C, H, W] the kernel fits ("valid").
  Shape build(const Shape& input, Rng& rng) override;
  // x: [batch, C, H, W] -> [batch, filters, out_h, out_w]. Train keeps x, and the
  // pre-activation z and output y where the activation's derivative needs them (for relu, a
  // byte mask of where y > 0).
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: [batch, filters, out_h, out_w] -> dx: [batch, C, H, W] (empty when
  // input_gradient_needed() is false). Adds into weight's and bias's grads.
  Tensor backward(const Tensor& dy) override;
  std::vector<Param*> params() override;  // "weight" [filters, C, kh, kw], then "bias" [filters]
  nlohmann::json config() const override;

  // "sigmoid" when that is the activation (element-wise, so the loss's fused gradient applies).
  std::string output_activation() const override;
  Tensor backward_preactivation(const Tensor& dz) override;

  const Conv2DOptions& options() const { return options_; }

 private:
  std::string who() const;
  Conv2dGeometry geometry(int64_t batch) const;
  // The convolution's backward for dz, the gradient with respect to its output (before the
  // activation, or after the fused ReLU when relu_mask is given).
  Tensor linear_backward(const Tensor& dz, const uint8_t* relu_mask = nullptr);
  void clear_cache();

  Conv2DOptions options_;
  bool same_ = false;
  Activation activation_;
  float alpha_;
  Conv2dGeometry geometry_;  // batch 0 until build(); the batch is set per call
  Conv2dKernel kernel_;
  Param weight_{"weight", Tensor(), Tensor()};
  Param bias_{"bias", Tensor(), Tensor()};
  // Forward cache (Train only), valid while cached_; the buffers outlive it, for reuse.
  bool cached_ = false;
  Tensor x_;                        // input
  Tensor z_;                        // pre-activation, when activation_backward_reads_input()
  Tensor y_;                        // output, unless the activation is linear or relu
  std::vector<uint8_t> relu_mask_;  // relu: output > 0
  Tensor dz_;  // backward's scratch: the gradient with respect to the pre-activation
};

}  // namespace nnkit
