// Transposed two-dimensional convolution ("deconvolution") on raw NCHW arrays. Its forward pass
// is the backward-data pass of a convolution, and its backward passes are that convolution's
// forward (for the input gradient) and backward-weights (for the weight gradient); so it is
// described by the Conv2dGeometry of that convolution, read backwards:
//   x  [batch, g.filters, g.out_h, g.out_w]   the transposed convolution's input,
//   w  [g.filters, g.channels, kernel_h, kernel_w]  (PyTorch's ConvTranspose2d layout
//      [in_channels, out_channels, kh, kw], which is the convolution's OIHW weight as it stands),
//   y  [batch, g.channels, g.height, g.width]  its output.
// g.pad_top and g.pad_left crop the output's top rows and left columns (PyTorch's padding);
// out_h and out_w must be the sizes the convolution would give on y. Dilation 1 only.
// Implemented with im2col / col2im and nnkit::gemm, images spread over OpenMP threads.
#pragma once

#include <vector>

#include "nnkit/kernels/conv.h"

namespace nnkit {

// The im2col + GEMM passes, with their scratch buffers kept between calls (one column matrix
// and one partial weight gradient per thread). Not thread-safe: one per layer. Throws nothing
// but std::bad_alloc for a consistent geometry.
class ConvTranspose2dKernel {
 public:
  // y = conv2d_backward_data(x, w) + bias (per output channel; bias [g.channels] may be null).
  // y is overwritten.
  void forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias,
               float* y);
  // dx = conv2d_forward(dy, w), overwritten (skipped when dx is null); dw +=
  // conv2d_backward_weights(dy, x); dbias [g.channels] (may be null) += Σ of dy over batch and
  // pixels.
  void backward(const Conv2dGeometry& g, const float* x, const float* dy, const float* w, float* dx,
                float* dw, float* dbias);

 private:
  int64_t threads_for(const Conv2dGeometry& g) const;

  std::vector<float> col_;      // one column matrix [channels·kh·kw, out_h·out_w] per thread
  std::vector<float> partial_;  // one [dw, dbias] partial sum per thread
};

}  // namespace nnkit
