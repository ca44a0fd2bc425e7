#include "nnkit/kernels/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "nnkit/kernels/gemm.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace nnkit {

ConvAxis conv_axis(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, bool same) {
  const int64_t span = (kernel - 1) * dilation + 1;  // the input rows one output row sees
  if (!same) return {.out = in >= span ? (in - span) / stride + 1 : 0};
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + span - in, 0);
  return {.out = out, .before = total / 2, .after = total - total / 2};
}

// ---- reference --------------------------------------------------------------------------

namespace {

// Index helpers for NCHW and OIHW arrays.
inline int64_t x_index(const Conv2dGeometry& g, int64_t n, int64_t c, int64_t h, int64_t w) {
  return ((n * g.channels + c) * g.height + h) * g.width + w;
}
inline int64_t w_index(const Conv2dGeometry& g, int64_t f, int64_t c, int64_t i, int64_t j) {
  return ((f * g.channels + c) * g.kernel_h + i) * g.kernel_w + j;
}
inline int64_t y_index(const Conv2dGeometry& g, int64_t n, int64_t f, int64_t h, int64_t w) {
  return ((n * g.filters + f) * g.out_h + h) * g.out_w + w;
}

// Calls body(n, f, oh, ow, c, i, j, ih, iw) for every product term that touches a real (not
// padded) input cell: the loop nest all three reference passes share.
template <typename Body>
void for_each_tap(const Conv2dGeometry& g, Body body) {
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t f = 0; f < g.filters; ++f)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow)
          for (int64_t c = 0; c < g.channels; ++c)
            for (int64_t i = 0; i < g.kernel_h; ++i) {
              const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
              if (ih < 0 || ih >= g.height) continue;
              for (int64_t j = 0; j < g.kernel_w; ++j) {
                const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dilation_w;
                if (iw < 0 || iw >= g.width) continue;
                body(n, f, oh, ow, c, i, j, ih, iw);
              }
            }
}

}  // namespace

void conv2d_forward_reference(const Conv2dGeometry& g, const float* x, const float* w,
                              const float* bias, float* y) {
  std::vector<double> sum(static_cast<std::size_t>(g.batch * g.filters * g.out_h * g.out_w), 0.0);
  for_each_tap(g, [&](int64_t n, int64_t f, int64_t oh, int64_t ow, int64_t c, int64_t i, int64_t j,
                      int64_t ih, int64_t iw) {
    sum[y_index(g, n, f, oh, ow)] +=
        static_cast<double>(x[x_index(g, n, c, ih, iw)]) * w[w_index(g, f, c, i, j)];
  });
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t f = 0; f < g.filters; ++f)
      for (int64_t p = 0; p < g.out_h * g.out_w; ++p) {
        const int64_t k = (n * g.filters + f) * g.out_h * g.out_w + p;
        y[k] = static_cast<float>(sum[k] + (bias ? bias[f] : 0.0));
      }
}

void conv2d_backward_data_reference(const Conv2dGeometry& g, const float* dy, const float* w,
                                    float* dx) {
  std::vector<double> sum(static_cast<std::size_t>(g.batch * g.channels * g.height * g.width), 0.0);
  for_each_tap(g, [&](int64_t n, int64_t f, int64_t oh, int64_t ow, int64_t c, int64_t i, int64_t j,
                      int64_t ih, int64_t iw) {
    sum[x_index(g, n, c, ih, iw)] +=
        static_cast<double>(dy[y_index(g, n, f, oh, ow)]) * w[w_index(g, f, c, i, j)];
  });
  for (std::size_t k = 0; k < sum.size(); ++k) dx[k] = static_cast<float>(sum[k]);
}

void conv2d_backward_weights_reference(const Conv2dGeometry& g, const float* x, const float* dy,
                                       float* dw, float* dbias) {
  std::vector<double> sum(
      static_cast<std::size_t>(g.filters * g.channels * g.kernel_h * g.kernel_w), 0.0);
  for_each_tap(g, [&](int64_t n, int64_t f, int64_t oh, int64_t ow, int64_t c, int64_t i, int64_t j,
                      int64_t ih, int64_t iw) {
    sum[w_index(g, f, c, i, j)] +=
        static_cast<double>(dy[y_index(g, n, f, oh, ow)]) * x[x_index(g, n, c, ih, iw)];
  });
  for (std::size_t k = 0; k < sum.size(); ++k) dw[k] += static_cast<float>(sum[k]);
  if (!dbias) return;
  for (int64_t f = 0; f < g.filters; ++f) {
    double s = 0.0;
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t p = 0; p < g.out_h * g.out_w; ++p) s += dy[y_index(g, n, f, 0, 0) + p];
    dbias[f] += static_cast<float>(s);
  }
}

// ---- im2col + GEMM ----------------------------------------------------------------------

namespace {

// The output columns [lo, hi) whose input column ow·stride + offset lies inside [0, width).
struct ColumnRange {
  int64_t lo, hi;
};
inline ColumnRange valid_columns(int64_t offset, int64_t stride, int64_t width, int64_t out_w) {
  // ow·stride + offset >= 0  <=>  ow >= ceil(−offset / stride).
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  // ow·stride + offset <= width − 1  <=>  ow <= floor((width − 1 − offset) / stride).
  int64_t hi = width - 1 - offset < 0 ? 0 : (width - 1 - offset) / stride + 1;
  lo = std::min(lo, out_w);
  hi = std::clamp(hi, lo, out_w);
  return {lo, hi};
}

// True when the column matrix of an image is the image itself: a 1×1 kernel, stride 1, no
// padding.
bool col_is_input(const Conv2dGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 &&
         g.pad_top == 0 && g.pad_left == 0 && g.out_h == g.height && g.out_w == g.width;
}

}  // namespace

// col[(c·kh + i)·kw + j, oh·out_w + ow] = x[c, oh·sh − pad_top + i·dh, ow·sw − pad_left + j·dw],
// zero where that falls in the padding. x is one image [channels, height, width].
void im2col(const Conv2dGeometry& g, const float* __restrict x, float* __restrict col) {
  const int64_t pixels = g.out_h * g.out_w;
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t i = 0; i < g.kernel_h; ++i)
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        float* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * pixels;
        const int64_t offset = j * g.dilation_w - g.pad_left;
        const ColumnRange cols = valid_columns(offset, g.stride_w, g.width, g.out_w);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          float* dst = row + oh * g.out_w;
          const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
          if (ih < 0 || ih >= g.height) {
            std::fill(dst, dst + g.out_w, 0.0f);
            continue;
          }
          const float* src = x + (c * g.height + ih) * g.width + offset;
          std::fill(dst, dst + cols.lo, 0.0f);
          if (g.stride_w == 1) {
            std::memcpy(dst + cols.lo, src + cols.lo, (cols.hi - cols.lo) * sizeof(float));
          } else {
            for (int64_t ow = cols.lo; ow < cols.hi; ++ow) dst[ow] = src[ow * g.stride_w];
          }
          std::fill(dst + cols.hi, dst + g.out_w, 0.0f);
        }
      }
}

// The adjoint of im2col: dx[c, ih, iw] = Σ of the col entries im2col copied from it. dx is one
// image [channels, height, width], overwritten.
void col2im(const Conv2dGeometry& g, const float* __restrict col, float* __restrict dx) {
  const int64_t pixels = g.out_h * g.out_w;
  std::fill(dx, dx + g.channels * g.height * g.width, 0.0f);
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t i = 0; i < g.kernel_h; ++i)
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const float* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * pixels;
        const int64_t offset = j * g.dilation_w - g.pad_left;
        const ColumnRange cols = valid_columns(offset, g.stride_w, g.width, g.out_w);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          const float* src = row + oh * g.out_w;
          float* dst = dx + (c * g.height + ih) * g.width + offset;
          if (g.stride_w == 1) {
#pragma omp simd
            for (int64_t ow = cols.lo; ow < cols.hi; ++ow) dst[ow] += src[ow];
          } else {
            for (int64_t ow = cols.lo; ow < cols.hi; ++ow) dst[ow * g.stride_w] += src[ow];
          }
        }
      }
}

namespace {

// max(v, 0) as a select, which GCC vectorises (std::max here compiled to a compare and branch
// per element, mispredicted half the time on a convolution's output); mask, when given, = v > 0.
void relu_in_place(int64_t n, float* __restrict v, uint8_t* __restrict mask) {
  if (!mask) {
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) v[k] = v[k] > 0.0f ? v[k] : 0.0f;
    return;
  }
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    const bool on = v[k] > 0.0f;
    v[k] = on ? v[k] : 0.0f;
    mask[k] = on;
  }
}

// dz = mask ? dy : 0, the gradient through a ReLU whose output was positive where mask is set.
void relu_backward(int64_t n, const float* __restrict dy, const uint8_t* __restrict mask,
                   float* __restrict dz) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) dz[k] = mask[k] ? dy[k] : 0.0f;
}

// The same over a whole batch, the images split over threads.
void relu_mask_batch(int64_t batch, int64_t size, const float* y, uint8_t* mask) {
#pragma omp parallel for schedule(static) if (batch > 1)
  for (int64_t n = 0; n < batch; ++n) {
    const float* __restrict yn = y + n * size;
    uint8_t* __restrict mn = mask + n * size;
#pragma omp simd
    for (int64_t k = 0; k < size; ++k) mn[k] = yn[k] > 0.0f;
  }
}
void relu_backward_batch(int64_t batch, int64_t size, const float* dy, const uint8_t* mask,
                         float* dz) {
#pragma omp parallel for schedule(static) if (batch > 1)
  for (int64_t n = 0; n < batch; ++n)
    relu_backward(size, dy + n * size, mask + n * size, dz + n * size);
}

// The per-image passes, each on one image's slices; col is that thread's buffer.
class GemmConv {
 public:
  void forward(const Conv2dGeometry& g, const float* x, const float* w, const float* bias, float* y,
               bool relu, uint8_t* relu_mask) {
    const int64_t taps = g.channels * g.kernel_h * g.kernel_w, pixels = g.out_h * g.out_w;
    const int64_t in_size = g.channels * g.height * g.width, out_size = g.filters * pixels;
    for_images(g, [&](int64_t n, float* col) {
      const float* xn = x + n * in_size;
      float* yn = y + n * out_size;
      if (!col_is_input(g)) im2col(g, xn, col);
      // y_n[filters, pixels] = W[filters, taps] · col[taps, pixels] (+ bias per row).
      if (bias) {
        for (int64_t f = 0; f < g.filters; ++f)
          std::fill(yn + f * pixels, yn + (f + 1) * pixels, bias[f]);
      }
      gemm(Trans::No, Trans::No, g.filters, pixels, taps, 1.0f, w, taps, col_is_input(g) ? xn : col,
           pixels, bias ? 1.0f : 0.0f, yn, pixels);
      // While the image's output is still in cache.
      if (relu) relu_in_place(out_size, yn, relu_mask ? relu_mask + n * out_size : nullptr);
    });
  }

  void backward(const Conv2dGeometry& g, const float* x, const float* dy, const float* w, float* dx,
                float* dw, float* dbias, const uint8_t* relu_mask) {
    const int64_t taps = g.channels * g.kernel_h * g.kernel_w, pixels = g.out_h * g.out_w;
    const int64_t in_size = g.channels * g.height * g.width, out_size = g.filters * pixels;
    const int64_t grad_size = g.filters * taps + g.filters;
    // Each thread adds its images' weight gradients into its own partial sum; the partial sums
    // are added into dw at the end, so no two threads write the same memory.
    partial_.assign(static_cast<std::size_t>(grad_size * threads_for(g)), 0.0f);
    if (relu_mask) dz_.resize(static_cast<std::size_t>(out_size * threads_for(g)));
    for_images(g, [&](int64_t n, float* col) {
      float* partial = partial_.data() + omp_get_thread_num() * grad_size;
      const float* xn = x + n * in_size;
      const float* dyn = dy + n * out_size;
      if (relu_mask) {
        // Through the fused ReLU, into this thread's buffer, where the GEMMs find it in cache.
        float* dzn = dz_.data() + omp_get_thread_num() * out_size;
        relu_backward(out_size, dyn, relu_mask + n * out_size, dzn);
        dyn = dzn;
      }
      // dW[filters, taps] += dy_n[filters, pixels] · col[taps, pixels]ᵀ.
      const bool direct = col_is_input(g);
      if (!direct) im2col(g, xn, col);
      gemm(Trans::No, Trans::Yes, g.filters, taps, pixels, 1.0f, dyn, pixels, direct ? xn : col,
           pixels, 1.0f, partial, taps);
      if (dbias) {
        float* db = partial + g.filters * taps;
        for (int64_t f = 0; f < g.filters; ++f) {
          float s = 0.0f;
          const float* row = dyn + f * pixels;
#pragma omp simd reduction(+ : s)
          for (int64_t p = 0; p < pixels; ++p) s += row[p];
          db[f] += s;
        }
      }
      if (!dx) return;
      // dcol[taps, pixels] = Wᵀ[taps, filters] · dy_n[filters, pixels]; dx_n = col2im(dcol).
      float* dxn = dx + n * in_size;
      if (direct) {
        gemm(Trans::Yes, Trans::No, taps, pixels, g.filters, 1.0f, w, taps, dyn, pixels, 0.0f, dxn,
             pixels);
        return;
      }
      gemm(Trans::Yes, Trans::No, taps, pixels, g.filters, 1.0f, w, taps, dyn, pixels, 0.0f, col,
           pixels);
      col2im(g, col, dxn);
    });
    for (int64_t t = 0; t < threads_for(g); ++t) {
      const float* partial = partial_.data() + t * grad_size;
      for (int64_t k = 0; k < g.filters * taps; ++k) dw[k] += partial[k];
      if (dbias)
        for (int64_t f = 0; f < g.filters; ++f) dbias[f] += partial[g.filters * taps + f];
    }
  }

 private:
  // Images over threads when there are enough of them; else one image after another, each GEMM
  // using every thread.
  static int64_t threads_for(const Conv2dGeometry& g) {
    const int64_t threads = omp_get_max_threads();
    return g.batch >= threads ? threads : 1;
  }

  template <typename Body>
  void for_images(const Conv2dGeometry& g, Body body) {
    const int64_t taps = g.channels * g.kernel_h * g.kernel_w, pixels = g.out_h * g.out_w;
    const int64_t threads = threads_for(g);
    const std::size_t col_size = static_cast<std::size_t>(taps * pixels);
    if (col_.size() < col_size * threads) col_.resize(col_size * threads);
    if (threads == 1) {
      for (int64_t n = 0; n < g.batch; ++n) body(n, col_.data());
      return;
    }
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t n = 0; n < g.batch; ++n) body(n, col_.data() + omp_get_thread_num() * col_size);
  }

  std::vector<float> col_;      // one column matrix per thread
  std::vector<float> partial_;  // one [dw, dbias] partial sum per thread
  std::vector<float> dz_;       // one image's gradient through the fused ReLU per thread
};

// ---- oneDNN -----------------------------------------------------------------------------

using dnnl::memory;
using Tag = memory::format_tag;

// A tensor the caller holds in plain layout (NCHW, OIHW, x) that a primitive may want in
// another (blocked) layout: the memory to hand the primitive, with a reorder either way when
// the layouts differ.
class Staged {
 public:
  Staged() = default;
  Staged(const dnnl::engine& engine, const memory::desc& user, const memory::desc& wanted)
      : user_(user, engine, DNNL_MEMORY_NONE) {
    if (user == wanted) {
      inner_ = user_;
      return;
    }
    inner_ = memory(wanted, engine);
    to_inner_ = dnnl::reorder(user_, inner_);
    to_user_ = dnnl::reorder(inner_, user_);
    reorders_ = true;
  }

  // The primitive's input: the user's data, reordered when needed.
  const memory& in(dnnl::stream& stream, const float* data) {
    user_.set_data_handle(const_cast<float*>(data));
    if (reorders_) to_inner_.execute(stream, user_, inner_);
    return inner_;
  }
  // The primitive's output; call out_done() after the primitive ran.
  const memory& out(float* data) {
    user_.set_data_handle(data);
    return inner_;
  }
  void out_done(dnnl::stream& stream) {
    if (reorders_) to_user_.execute(stream, inner_, user_);
  }
  // The inner memory as last filled, without reordering again.
  const memory& inner() const { return inner_; }
  bool reorders() const { return reorders_; }

 private:
  memory user_, inner_;
  dnnl::reorder to_inner_, to_user_;
  bool reorders_ = false;
};

// The primitives of one geometry, each made on its first use (JIT-compiling one takes
// milliseconds): the forward with and without a fused ReLU, and the two backward passes.
class DnnlConv {
 public:
  // plain: images stay NCHW (oneDNN then runs its own im2col + GEMM); else oneDNN picks its
  // layouts (blocked, for its direct JIT kernels) and the images are reordered.
  DnnlConv(const dnnl::engine& engine, const Conv2dGeometry& geometry, bool with_bias, bool plain)
      : g(geometry), bias(with_bias), engine_(engine) {
    const auto f32 = memory::data_type::f32;
    const memory::dims src_dims{g.batch, g.channels, g.height, g.width};
    const memory::dims w_dims{g.filters, g.channels, g.kernel_h, g.kernel_w};
    const memory::dims dst_dims{g.batch, g.filters, g.out_h, g.out_w};
    const Tag image = plain ? Tag::nchw : Tag::any;
    src_any_ = memory::desc(src_dims, f32, image);
    w_any_ = memory::desc(w_dims, f32, Tag::any);
    dst_any_ = memory::desc(dst_dims, f32, image);
    bias_md_ = bias ? memory::desc({g.filters}, f32, Tag::x) : memory::desc();
    src_user_ = memory::desc(src_dims, f32, Tag::nchw);
    w_user_ = memory::desc(w_dims, f32, Tag::oihw);
    dst_user_ = memory::desc(dst_dims, f32, Tag::nchw);
    fwd_pd_ = forward_pd(dnnl::primitive_attr());
    forward_[0] = dnnl::convolution_forward(fwd_pd_);
    fwd_src = Staged(engine_, src_user_, fwd_pd_.src_desc());
    fwd_weights = Staged(engine_, w_user_, fwd_pd_.weights_desc());
    fwd_dst = Staged(engine_, dst_user_, fwd_pd_.dst_desc());
    if (bias) bias_mem = Staged(engine_, bias_md_, bias_md_);
  }

  const dnnl::convolution_forward& forward(bool relu) {
    if (relu && !forward_[1]) {
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
      dnnl::primitive_attr attr;
      attr.set_post_ops(ops);
      // The same layouts as the plain forward, so that the same reorders serve both.
      forward_[1] = dnnl::convolution_forward(
          forward_pd(attr, fwd_pd_.src_desc(), fwd_pd_.weights_desc(), fwd_pd_.dst_desc()));
    }
    return forward_[relu ? 1 : 0];
  }

  void make_backward() {
    if (backward_data) return;
    dnnl::convolution_backward_data::primitive_desc bwd_pd(
        dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, src_any_, w_any_,
                                              dst_any_, strides(), dilates(), pad_l(), pad_r()),
        engine_, fwd_pd_);
    backward_data = dnnl::convolution_backward_data(bwd_pd);
    bwd_diff_dst = Staged(engine_, dst_user_, bwd_pd.diff_dst_desc());
    bwd_weights = Staged(engine_, w_user_, bwd_pd.weights_desc());
    bwd_diff_src = Staged(engine_, src_user_, bwd_pd.diff_src_desc());

    dnnl::convolution_backward_weights::primitive_desc bww_pd(
        dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, src_any_,
                                                 w_any_, bias_md_, dst_any_, strides(), dilates(),
                                                 pad_l(), pad_r()),
        engine_, fwd_pd_);
    backward_weights = dnnl::convolution_backward_weights(bww_pd);
    bww_src = Staged(engine_, src_user_, bww_pd.src_desc());
    bww_diff_dst = Staged(engine_, dst_user_, bww_pd.diff_dst_desc());
    bww_diff_weights = Staged(engine_, w_user_, bww_pd.diff_weights_desc());
    diff_weights.resize(static_cast<std::size_t>(g.filters * g.channels * g.kernel_h * g.kernel_w));
    if (bias) {
      diff_bias_data.resize(static_cast<std::size_t>(g.filters));
      diff_bias = memory(bias_md_, engine_, diff_bias_data.data());
    }
  }

  Conv2dGeometry g;
  bool bias;
  Staged fwd_src, fwd_weights, fwd_dst, bias_mem;
  const float* staged_x = nullptr;  // the x whose reorder fwd_src holds
  dnnl::convolution_backward_data backward_data;
  dnnl::convolution_backward_weights backward_weights;
  Staged bwd_diff_dst, bwd_weights, bwd_diff_src;  // backward_data
  Staged bww_src, bww_diff_dst, bww_diff_weights;  // backward_weights
  memory diff_bias;                                // oneDNN overwrites; nnkit accumulates
  std::vector<float> diff_weights, diff_bias_data;

 private:
  memory::dims strides() const { return {g.stride_h, g.stride_w}; }
  memory::dims dilates() const { return {g.dilation_h - 1, g.dilation_w - 1}; }  // 0: dense
  memory::dims pad_l() const { return {g.pad_top, g.pad_left}; }
  // oneDNN checks out = (in + pad_l + pad_r − span) / stride + 1 exactly; a "valid"
  // convolution whose stride leaves rows over has its right pad at zero and that still holds.
  memory::dims pad_r() const { return {g.pad_bottom, g.pad_right}; }

  dnnl::convolution_forward::primitive_desc forward_pd(const dnnl::primitive_attr& attr) {
    return forward_pd(attr, src_any_, w_any_, dst_any_);
  }
  dnnl::convolution_forward::primitive_desc forward_pd(const dnnl::primitive_attr& attr,
                                                       const memory::desc& src,
                                                       const memory::desc& w,
                                                       const memory::desc& dst) {
    return dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                        dnnl::algorithm::convolution_direct, src, w, bias_md_, dst,
                                        strides(), dilates(), pad_l(), pad_r()),
        attr, engine_);
  }

  dnnl::engine engine_;
  memory::desc src_any_, w_any_, dst_any_, bias_md_, src_user_, w_user_, dst_user_;
  dnnl::convolution_forward::primitive_desc fwd_pd_;
  dnnl::convolution_forward forward_[2];  // without, with a fused ReLU
};

}  // namespace

struct Conv2dKernel::Impl {
  // gemm
  GemmConv gemm;
  // dnnl: the most recent geometries first.
  static constexpr std::size_t kCachedGeometries = 4;
  std::optional<dnnl::engine> engine;
  std::optional<dnnl::stream> stream;
  std::deque<DnnlConv> convs;
  std::vector<float> dz;  // dy through the fused ReLU

  DnnlConv& conv_for(const Conv2dGeometry& g, bool bias, bool plain) {
    if (!engine) {
      engine.emplace(dnnl::engine::kind::cpu, 0);
      stream.emplace(*engine);
    }
    for (auto it = convs.begin(); it != convs.end(); ++it) {
      if (it->g == g && it->bias == bias) {
        if (it != convs.begin()) {
          DnnlConv found = std::move(*it);
          convs.erase(it);
          convs.push_front(std::move(found));
        }
        return convs.front();
      }
    }
    convs.emplace_front(*engine, g, bias, plain);
    if (convs.size() > kCachedGeometries) convs.pop_back();
    return convs.front();
  }
};

Conv2dKernel::Conv2dKernel(ConvAlgorithm algorithm)
    : algorithm_(algorithm), impl_(std::make_unique<Impl>()) {}
Conv2dKernel::~Conv2dKernel() = default;
Conv2dKernel::Conv2dKernel(Conv2dKernel&&) noexcept = default;
Conv2dKernel& Conv2dKernel::operator=(Conv2dKernel&&) noexcept = default;

ConvAlgorithm conv_algorithm_for(const Conv2dGeometry& g) {
  return g.channels >= 16 && g.filters >= 16 ? ConvAlgorithm::dnnl : ConvAlgorithm::gemm;
}

void Conv2dKernel::forward(const Conv2dGeometry& g, const float* x, const float* w,
                           const float* bias, float* y, bool relu, uint8_t* relu_mask) {
  if (g.batch == 0) return;
  const ConvAlgorithm algorithm =
      algorithm_ == ConvAlgorithm::automatic ? conv_algorithm_for(g) : algorithm_;
  if (algorithm == ConvAlgorithm::gemm) {
    impl_->gemm.forward(g, x, w, bias, y, relu, relu_mask);
    return;
  }
  DnnlConv& c = impl_->conv_for(g, bias != nullptr, algorithm == ConvAlgorithm::dnnl_plain);
  dnnl::stream& s = *impl_->stream;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, c.fwd_src.in(s, x)},
                                       {DNNL_ARG_WEIGHTS, c.fwd_weights.in(s, w)},
                                       {DNNL_ARG_DST, c.fwd_dst.out(y)}};
  if (bias) args[DNNL_ARG_BIAS] = c.bias_mem.in(s, bias);
  c.forward(relu).execute(s, args);
  c.fwd_dst.out_done(s);
  s.wait();
  c.staged_x = x;
  if (relu && relu_mask) relu_mask_batch(g.batch, g.filters * g.out_h * g.out_w, y, relu_mask);
}

void Conv2dKernel::backward(const Conv2dGeometry& g, const float* x, const float* dy,
                            const float* w, float* dx, float* dw, float* dbias,
                            const uint8_t* relu_mask) {
  if (g.batch == 0) return;
  const ConvAlgorithm algorithm =
      algorithm_ == ConvAlgorithm::automatic ? conv_algorithm_for(g) : algorithm_;
  if (algorithm == ConvAlgorithm::gemm) {
    impl_->gemm.backward(g, x, dy, w, dx, dw, dbias, relu_mask);
    return;
  }
  DnnlConv& c = impl_->conv_for(g, dbias != nullptr, algorithm == ConvAlgorithm::dnnl_plain);
  c.make_backward();
  dnnl::stream& s = *impl_->stream;
  if (relu_mask) {
    const int64_t out_size = g.filters * g.out_h * g.out_w;
    impl_->dz.resize(static_cast<std::size_t>(g.batch * out_size));
    relu_backward_batch(g.batch, out_size, dy, relu_mask, impl_->dz.data());
    dy = impl_->dz.data();
  }
  // x reordered again only when the forward's copy is not of this x or has another layout.
  const bool reuse_src = c.staged_x == x && c.fwd_src.reorders() &&
                         c.bww_src.inner().get_desc() == c.fwd_src.inner().get_desc();
  const memory& src = reuse_src ? c.fwd_src.inner() : c.bww_src.in(s, x);
  const memory& diff_dst = c.bww_diff_dst.in(s, dy);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, src},
      {DNNL_ARG_DIFF_DST, diff_dst},
      {DNNL_ARG_DIFF_WEIGHTS, c.bww_diff_weights.out(c.diff_weights.data())}};
  if (dbias) args[DNNL_ARG_DIFF_BIAS] = c.diff_bias;
  c.backward_weights.execute(s, args);
  c.bww_diff_weights.out_done(s);
  if (dx) {
    // The weights' diff_dst layout is usually backward_data's too: reorder dy once.
    const bool same_dd = c.bwd_diff_dst.inner().get_desc() == c.bww_diff_dst.inner().get_desc();
    const memory& dd = same_dd ? diff_dst : c.bwd_diff_dst.in(s, dy);
    c.backward_data.execute(s, {{DNNL_ARG_DIFF_DST, dd},
                                {DNNL_ARG_WEIGHTS, c.bwd_weights.in(s, w)},
                                {DNNL_ARG_DIFF_SRC, c.bwd_diff_src.out(dx)}});
    c.bwd_diff_src.out_done(s);
  }
  s.wait();
  const int64_t w_size = g.filters * g.channels * g.kernel_h * g.kernel_w;
  for (int64_t k = 0; k < w_size; ++k) dw[k] += c.diff_weights[k];
  if (dbias)
    for (int64_t f = 0; f < g.filters; ++f) dbias[f] += c.diff_bias_data[f];
}

}  // namespace nnkit
