// Two-dimensional convolution on raw NCHW arrays: the forward pass and both backward passes
// (input and weights), as cross-correlation (PyTorch's and Keras's convolution; the kernel is not
// flipped). Images are x [batch, channels, height, width], weights w [filters, channels,
// kernel_h, kernel_w] (PyTorch's layout), outputs y [batch, filters, out_h, out_w].
//
// Two fast implementations sit behind Conv2dKernel, chosen per geometry by measurement
// (ConvAlgorithm::automatic; bench/README.md):
// - gemm: im2col per image into a [channels·kernel_h·kernel_w, out_h·out_w] matrix, one GEMM
//   per image (nnkit::gemm), col2im for the input gradient; images spread over OpenMP threads.
// - dnnl: oneDNN's convolution primitives (forward_training, backward_data, backward_weights)
//   on its blocked layouts, with reorders from and to NCHW / OIHW. (dnnl_plain, the same
//   primitives on NCHW, is kept for the benchmark: it was never the fastest.)
// The *_reference functions are plain direct loops in double, kept to test the fast ones.
#pragma once

#include <cstdint>
#include <memory>

namespace nnkit {

// Every size of one convolution call. Padding may differ per side (Keras's "same" puts the odd
// row or column at the bottom or right); out_h and out_w must be the sizes the padding gives:
// out = (in + pad_before + pad_after − ((kernel − 1)·dilation + 1)) / stride + 1, rounded down.
struct Conv2dGeometry {
  int64_t batch = 0, channels = 0, height = 0, width = 0;
  int64_t filters = 0, kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;  // 1 is a dense kernel
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t out_h = 0, out_w = 0;

  bool operator==(const Conv2dGeometry&) const = default;
  // Multiply-adds of one forward pass (each backward pass does as many).
  int64_t macs() const { return batch * filters * out_h * out_w * channels * kernel_h * kernel_w; }
};

// One axis of Keras's padding rule.
struct ConvAxis {
  int64_t out = 0;     // output size; <= 0 when the kernel does not fit ("valid")
  int64_t before = 0;  // zeros added on top / left
  int64_t after = 0;   // zeros added on bottom / right
};
// "valid": out = (in − ((kernel − 1)·dilation + 1)) / stride + 1, no padding.
// "same": out = ceil(in / stride), total = max((out − 1)·stride + (kernel − 1)·dilation + 1 − in,
// 0), before = total / 2, after = total − before (TensorFlow's rule, for any stride).
ConvAxis conv_axis(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool same);

// y = conv(x, w) + bias. bias [filters] may be null. y is overwritten.
void conv2d_forward_reference(const Conv2dGeometry& g, const float* x, const float* w,
                              const float* bias, float* y);
// dx = the gradient with respect to x of Σ dy ⊙ conv(x, w). dx is overwritten.
void conv2d_backward_data_reference(const Conv2dGeometry& g, const float* dy, const float* w,
                                    float* dx);
// dw += the gradient with respect to w; dbias [filters] (may be null) += Σ over batch and pixels
// of dy.
void conv2d_backward_weights_reference(const Conv2dGeometry& g, const float* x, const float* dy,
                                       float* dw, float* dbias);

// The column matrix of one image x [channels, height, width] for the geometry g (batch unused):
// col[(c·kh + i)·kw + j, oh·out_w + ow] = x[c, oh·sh − pad_top + i·dh, ow·sw − pad_left + j·dw],
// zero where that falls outside the image. col is [channels·kh·kw, out_h·out_w], overwritten.
// Only pad_top and pad_left are read: pad_bottom and pad_right follow from out_h and out_w.
void im2col(const Conv2dGeometry& g, const float* x, float* col);
// Its adjoint: dx [channels, height, width] = the sum, into each pixel, of the col entries
// im2col() would copy from it. dx is overwritten.
void col2im(const Conv2dGeometry& g, const float* col, float* dx);

// gemm: nnkit's im2col + gemm(); dnnl: oneDNN's direct convolution on its blocked layouts, with
// reorders; dnnl_plain: oneDNN on NCHW as given (it then runs its own im2col + GEMM);
// automatic: per geometry, dnnl when both channels and filters are at least 16, else gemm
// (oneDNN's blocked layouts group channels by 16: below that part of every vector is padding,
// and the reorders cost more than they save; measured in bench/README.md).
enum class ConvAlgorithm { gemm, dnnl, dnnl_plain, automatic };

// The algorithm automatic picks for g.
ConvAlgorithm conv_algorithm_for(const Conv2dGeometry& g);

// The fast convolution of whatever geometries it is given. It owns what a geometry needs between
// calls — im2col buffers, or oneDNN primitives and their blocked buffers — made on a geometry's
// first call and cached for the next ones (a few geometries at once: a training epoch's batches
// and its smaller last batch). Not thread-safe: one per layer. Throws nothing for a geometry
// whose sizes are positive and consistent; std::bad_alloc (and for dnnl, dnnl::error) otherwise.
class Conv2dKernel {
 public:
  explicit Conv2dKernel(ConvAlgorithm algorithm = ConvAlgorithm::automatic);
  ~Conv2dKernel();
  Conv2dKernel(Conv2dKernel&&) noexcept;
  Conv2dKernel& operator=(Conv2dKernel&&) noexcept;

  ConvAlgorithm algorithm() const { return algorithm_; }

  // As conv2d_forward_reference; with relu, y = max(that, 0), fused into the pass, and
  // relu_mask, when given (one byte per element of y), set to y > 0 for backward().
  void forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
               bool relu = false, uint8_t* relu_mask = nullptr);
  // Both backward passes: dx overwritten as conv2d_backward_data_reference (skipped when dx is
  // null), dw and dbias (may be null) accumulated as conv2d_backward_weights_reference. x must
  // hold the values the forward() of this geometry last saw; when it is that same pointer the
  // kernel may use its own reordered copy of it instead of reading it again. relu_mask, when
  // given (the forward's), makes dy the gradient with respect to the fused ReLU's output: the
  // passes then run on dy ⊙ relu_mask.
  void backward(const Conv2dGeometry& g, const float* x, const float* dy, const float* w, float* dx,
                float* dw, float* dbias, const uint8_t* relu_mask = nullptr);

 private:
  struct Impl;
  ConvAlgorithm algorithm_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nnkit
