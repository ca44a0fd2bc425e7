#include "nnkit/kernels/conv_transpose.h"

#include <omp.h>

#include <algorithm>

#include "nnkit/kernels/gemm.h"

namespace nnkit {

int64_t ConvTranspose2dKernel::threads_for(const Conv2dGeometry& g) const {
  // Images over threads when there are enough of them; else one after another, each GEMM using
  // every thread.
  const int64_t threads = omp_get_max_threads();
  return g.batch >= threads ? threads : 1;
}

void ConvTranspose2dKernel::forward(const Conv2dGeometry& g, const float* x, const float* w,
                                    const float* bias, float* y) {
  const int64_t taps = g.channels * g.kernel_h * g.kernel_w, pixels = g.out_h * g.out_w;
  const int64_t in_size = g.filters * pixels, plane = g.height * g.width;
  const int64_t out_size = g.channels * plane;
  const int64_t threads = threads_for(g);
  const std::size_t col_size = static_cast<std::size_t>(taps * pixels);
  if (col_.size() < col_size * threads) col_.resize(col_size * threads);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int64_t n = 0; n < g.batch; ++n) {
    float* col = col_.data() + (threads > 1 ? omp_get_thread_num() : 0) * col_size;
    float* yn = y + n * out_size;
    // The convolution's backward-data: col[taps, pixels] = Wᵀ[taps, filters] · x_n[filters,
    // pixels], then col2im scatters each column back onto the pixels its window covers.
    gemm(Trans::Yes, Trans::No, taps, pixels, g.filters, 1.0f, w, taps, x + n * in_size, pixels,
         0.0f, col, pixels);
    col2im(g, col, yn);
    if (bias) {
      for (int64_t c = 0; c < g.channels; ++c) {
        float* row = yn + c * plane;
        const float b = bias[c];
#pragma omp simd
        for (int64_t p = 0; p < plane; ++p) row[p] += b;
      }
    }
  }
}

void ConvTranspose2dKernel::backward(const Conv2dGeometry& g, const float* x, const float* dy,
                                     const float* w, float* dx, float* dw, float* dbias) {
  const int64_t taps = g.channels * g.kernel_h * g.kernel_w, pixels = g.out_h * g.out_w;
  const int64_t in_size = g.filters * pixels, plane = g.height * g.width;
  const int64_t out_size = g.channels * plane;
  const int64_t grad_size = g.filters * taps + g.channels;
  const int64_t threads = threads_for(g);
  const std::size_t col_size = static_cast<std::size_t>(taps * pixels);
  if (col_.size() < col_size * threads) col_.resize(col_size * threads);
  // Each thread adds its images' weight gradients into its own partial sum, added into dw at the
  // end, so that no two threads write the same memory.
  partial_.assign(static_cast<std::size_t>(grad_size * threads), 0.0f);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
  for (int64_t n = 0; n < g.batch; ++n) {
    const int64_t t = threads > 1 ? omp_get_thread_num() : 0;
    float* col = col_.data() + t * col_size;
    float* partial = partial_.data() + t * grad_size;
    const float* xn = x + n * in_size;
    const float* dyn = dy + n * out_size;
    // The convolution's forward on dy: col = im2col(dy_n), dx_n[filters, pixels] = W · col.
    im2col(g, dyn, col);
    if (dx) {
      gemm(Trans::No, Trans::No, g.filters, pixels, taps, 1.0f, w, taps, col, pixels, 0.0f,
           dx + n * in_size, pixels);
    }
    // dW[filters, taps] += x_n[filters, pixels] · col[taps, pixels]ᵀ.
    gemm(Trans::No, Trans::Yes, g.filters, taps, pixels, 1.0f, xn, pixels, col, pixels, 1.0f,
         partial, taps);
    if (dbias) {
      float* db = partial + g.filters * taps;
      for (int64_t c = 0; c < g.channels; ++c) {
        const float* row = dyn + c * plane;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t p = 0; p < plane; ++p) s += row[p];
        db[c] += s;
      }
    }
  }
  for (int64_t t = 0; t < threads; ++t) {
    const float* partial = partial_.data() + t * grad_size;
    for (int64_t k = 0; k < g.filters * taps; ++k) dw[k] += partial[k];
    if (dbias)
      for (int64_t c = 0; c < g.channels; ++c) dbias[c] += partial[g.filters * taps + c];
  }
}

}  // namespace nnkit
