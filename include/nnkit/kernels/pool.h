// Pooling, global pooling and zero padding on NCHW images, as raw loops over planes: a plane is
// one channel of one sample, H·W contiguous floats, and an image batch is N·C planes one after
// the other. Inner loops run along output columns and vectorise; 2×2 windows of stride 2
// without padding (most CNNs' pooling) take a path that reads two whole input rows per output
// row (AVX-512 where the build has it). The planes are split over OpenMP threads when the work
// is large. Throw nothing; allocate nothing but the window bounds of a call (a few bytes).
#pragma once

#include <cstdint>

namespace nnkit {

// One axis of a pooling (or convolution) window sliding over an input axis: the output size
// and the padding before the first input cell.
struct PoolAxis {
  int64_t out = 0;
  int64_t pad_before = 0;
};

// Keras's "valid": out = floor((in − pool) / stride) + 1, no padding; out = 0 when pool > in.
PoolAxis pool_axis_valid(int64_t in, int64_t pool, int64_t stride);
// Keras's (TensorFlow's) "same": out = ceil(in / stride), total padding
// max((out − 1)·stride + pool − in, 0), of which total / 2 goes before and the rest (the extra
// cell, when odd) after.
PoolAxis pool_axis_same(int64_t in, int64_t pool, int64_t stride);

// A 2-D pooling window sliding over planes [planes, in_h, in_w] to give [planes, out_h, out_w].
// Window (oh, ow) covers input rows oh·stride_h − pad_top + [0, pool_h) and columns
// ow·stride_w − pad_left + [0, pool_w); cells outside the input are padding and never count.
struct Pool2dGeometry {
  int64_t planes = 0;
  int64_t in_h = 0, in_w = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t pool_h = 1, pool_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;
};

// y[p, oh, ow] = the maximum of the window's real cells (padding is −inf: it never wins). NaN
// wins and propagates, as PyTorch. argmax, when not null, receives [planes, out_h, out_w] the
// index ih·in_w + iw within its plane of the winning cell: the first maximum in row-major
// window order on ties (PyTorch's choice), the window's first real cell when all are −inf,
// −1 for a window with no real cell (y = −inf there).
void max_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y, int32_t* argmax);
// dx[p, argmax[p, o]] += dy[p, o] over every output o, with dx first set to zero (overwrites
// dx, [planes, in_h, in_w]); overlapping windows add.
void max_pool2d_backward(const Pool2dGeometry& g, const float* dy, const int32_t* argmax,
                         float* dx);

// y[p, oh, ow] = the mean of the window's real cells: the sum divided by how many cells of the
// window lie inside the input (Keras; PyTorch's count_include_pad=False), 0 for a window with
// none.
void avg_pool2d_forward(const Pool2dGeometry& g, const float* x, float* y);
// dx[p, ih, iw] = Σ over the windows holding (ih, iw) of dy / that window's count (overwrites
// dx).
void avg_pool2d_backward(const Pool2dGeometry& g, const float* dy, float* dx);

// Global pooling: one value per plane of plane_size cells (H·W).
// y[p] = mean of plane p.
void global_avg_pool_forward(int64_t planes, int64_t plane_size, const float* x, float* y);
// dx[p, i] = dy[p] / plane_size (overwrites dx).
void global_avg_pool_backward(int64_t planes, int64_t plane_size, const float* dy, float* dx);
// y[p] = max of plane p, with max_pool2d_forward's rules for ties and NaN; argmax, when not
// null, receives the winning index within the plane.
void global_max_pool_forward(int64_t planes, int64_t plane_size, const float* x, float* y,
                             int32_t* argmax);
// dx = 0, then dx[p, argmax[p]] = dy[p] (overwrites dx).
void global_max_pool_backward(int64_t planes, int64_t plane_size, const float* dy,
                              const int32_t* argmax, float* dx);

// Rows added above and below, columns added left and right of every plane.
struct Pad2d {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};
// x [planes, h, w] -> y [planes, top + h + bottom, left + w + right], zeros around x.
void zero_pad2d_forward(int64_t planes, int64_t h, int64_t w, const Pad2d& pad, const float* x,
                        float* y);
// dy [planes, top + h + bottom, left + w + right] -> dx [planes, h, w]: the interior of dy.
void zero_pad2d_backward(int64_t planes, int64_t h, int64_t w, const Pad2d& pad, const float* dy,
                         float* dx);

// y[p, i] = x[p, i] · scale[p]: one factor per plane (SpatialDropout2D's mask). y may be x.
void scale_planes(int64_t planes, int64_t plane_size, const float* scale, const float* x, float* y);

}  // namespace nnkit
