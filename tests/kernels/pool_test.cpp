#include "nnkit/kernels/pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "nnkit/random.h"

namespace nnkit {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The plain references the kernels are checked against: one window at a time, every tap tested
// against the input's bounds.
struct Reference {
  std::vector<float> y;
  std::vector<int32_t> argmax;
};

Reference reference_max_pool(const Pool2dGeometry& g, const std::vector<float>& x) {
  Reference r;
  for (int64_t p = 0; p < g.planes; ++p) {
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        float best = -kInf;
        int32_t arg = -1;
        for (int64_t kh = 0; kh < g.pool_h; ++kh) {
          for (int64_t kw = 0; kw < g.pool_w; ++kw) {
            int64_t ih = oh * g.stride_h - g.pad_top + kh, iw = ow * g.stride_w - g.pad_left + kw;
            if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
            float v = x[(p * g.in_h + ih) * g.in_w + iw];
            if (arg < 0 || v > best || std::isnan(v)) {
              best = v;
              arg = static_cast<int32_t>(ih * g.in_w + iw);
            }
          }
        }
        r.y.push_back(best);
        r.argmax.push_back(arg);
      }
    }
  }
  return r;
}

std::vector<float> reference_avg_pool(const Pool2dGeometry& g, const std::vector<float>& x) {
  std::vector<float> y;
  for (int64_t p = 0; p < g.planes; ++p) {
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        double sum = 0;
        int count = 0;
        for (int64_t kh = 0; kh < g.pool_h; ++kh) {
          for (int64_t kw = 0; kw < g.pool_w; ++kw) {
            int64_t ih = oh * g.stride_h - g.pad_top + kh, iw = ow * g.stride_w - g.pad_left + kw;
            if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
            sum += x[(p * g.in_h + ih) * g.in_w + iw];
            ++count;
          }
        }
        y.push_back(count > 0 ? static_cast<float>(sum / count) : 0.0f);
      }
    }
  }
  return y;
}

// dx of average pooling: each dy spread over its window's real cells.
std::vector<float> reference_avg_pool_backward(const Pool2dGeometry& g,
                                               const std::vector<float>& dy) {
  std::vector<double> dx(g.planes * g.in_h * g.in_w, 0.0);
  for (int64_t p = 0; p < g.planes; ++p) {
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        std::vector<int64_t> cells;
        for (int64_t kh = 0; kh < g.pool_h; ++kh) {
          for (int64_t kw = 0; kw < g.pool_w; ++kw) {
            int64_t ih = oh * g.stride_h - g.pad_top + kh, iw = ow * g.stride_w - g.pad_left + kw;
            if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
            cells.push_back((p * g.in_h + ih) * g.in_w + iw);
          }
        }
        for (int64_t c : cells) {
          dx[c] += dy[(p * g.out_h + oh) * g.out_w + ow] / static_cast<double>(cells.size());
        }
      }
    }
  }
  std::vector<float> out(dx.size());
  std::transform(dx.begin(), dx.end(), out.begin(), [](double v) { return static_cast<float>(v); });
  return out;
}

std::vector<float> random_values(int64_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& f : v) f = rng.uniform(-1.0f, 1.0f);
  return v;
}

// Geometries over awkward sizes: every pool 1–3 and stride 1–3 per axis, valid and same, images
// from 1×1 to 17×9 (odd and even, narrower and wider than the pool). Pool 2×2 stride 2 without
// padding takes the kernels' 2×2 path, everything else the general one.
std::vector<Pool2dGeometry> geometries() {
  std::vector<Pool2dGeometry> out;
  const int64_t sizes[][2] = {{1, 1}, {2, 3}, {5, 5}, {8, 6}, {7, 17}, {17, 9}, {6, 36}};
  for (const auto& size : sizes) {
    for (int64_t ph = 1; ph <= 3; ++ph) {
      for (int64_t pw = 1; pw <= 3; ++pw) {
        for (int64_t sh = 1; sh <= 3; ++sh) {
          for (int64_t sw = 1; sw <= 3; ++sw) {
            for (bool same : {false, true}) {
              PoolAxis rows =
                  same ? pool_axis_same(size[0], ph, sh) : pool_axis_valid(size[0], ph, sh);
              PoolAxis cols =
                  same ? pool_axis_same(size[1], pw, sw) : pool_axis_valid(size[1], pw, sw);
              if (rows.out == 0 || cols.out == 0) continue;
              out.push_back({.planes = 3,
                             .in_h = size[0],
                             .in_w = size[1],
                             .out_h = rows.out,
                             .out_w = cols.out,
                             .pool_h = ph,
                             .pool_w = pw,
                             .stride_h = sh,
                             .stride_w = sw,
                             .pad_top = rows.pad_before,
                             .pad_left = cols.pad_before});
            }
          }
        }
      }
    }
  }
  return out;
}

std::string describe(const Pool2dGeometry& g) {
  return "in " + std::to_string(g.in_h) + "x" + std::to_string(g.in_w) + ", pool " +
         std::to_string(g.pool_h) + "x" + std::to_string(g.pool_w) + ", strides " +
         std::to_string(g.stride_h) + "x" + std::to_string(g.stride_w) + ", pads " +
         std::to_string(g.pad_top) + "," + std::to_string(g.pad_left);
}

TEST(PoolAxis, FollowsKerasValidAndSameRules) {
  // valid: floor((in − pool) / stride) + 1.
  EXPECT_EQ(pool_axis_valid(28, 2, 2).out, 14);
  EXPECT_EQ(pool_axis_valid(7, 3, 2).out, 3);
  EXPECT_EQ(pool_axis_valid(2, 3, 1).out, 0);
  // same: ceil(in / stride); total pad max((out − 1)·s + k − in, 0), the extra after.
  PoolAxis a = pool_axis_same(7, 2, 2);  // out 4, total 1: 0 before, 1 after
  EXPECT_EQ(a.out, 4);
  EXPECT_EQ(a.pad_before, 0);
  PoolAxis b = pool_axis_same(5, 3, 1);  // out 5, total 2: 1 before
  EXPECT_EQ(b.out, 5);
  EXPECT_EQ(b.pad_before, 1);
  PoolAxis c = pool_axis_same(6, 4, 1);  // out 6, total 3: 1 before, 2 after
  EXPECT_EQ(c.out, 6);
  EXPECT_EQ(c.pad_before, 1);
  PoolAxis d = pool_axis_same(8, 2, 4);  // out 2, total 0
  EXPECT_EQ(d.out, 2);
  EXPECT_EQ(d.pad_before, 0);
}

TEST(MaxPool2dKernel, MatchesTheReferenceWithArgmax) {
  Rng rng(501);
  for (const Pool2dGeometry& g : geometries()) {
    std::vector<float> x = random_values(g.planes * g.in_h * g.in_w, rng);
    Reference ref = reference_max_pool(g, x);
    std::vector<float> y(ref.y.size()), y_infer(ref.y.size());
    std::vector<int32_t> argmax(ref.y.size());
    max_pool2d_forward(g, x.data(), y.data(), argmax.data());
    max_pool2d_forward(g, x.data(), y_infer.data(), nullptr);
    ASSERT_EQ(y, ref.y) << describe(g);
    ASSERT_EQ(y_infer, ref.y) << describe(g);
    ASSERT_EQ(argmax, ref.argmax) << describe(g);

    // Backward: each dy to its argmax, adding where windows overlap.
    std::vector<float> dy = random_values(y.size(), rng);
    std::vector<float> expected(x.size(), 0.0f), dx(x.size(), 123.0f);
    const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h * g.out_w;
    for (int64_t p = 0; p < g.planes; ++p) {
      for (int64_t o = 0; o < out_plane; ++o) {
        expected[p * in_plane + ref.argmax[p * out_plane + o]] += dy[p * out_plane + o];
      }
    }
    max_pool2d_backward(g, dy.data(), argmax.data(), dx.data());
    ASSERT_EQ(dx, expected) << describe(g);
  }
}

TEST(AvgPool2dKernel, MatchesTheReferenceCountingRealCellsOnly) {
  Rng rng(502);
  for (const Pool2dGeometry& g : geometries()) {
    std::vector<float> x = random_values(g.planes * g.in_h * g.in_w, rng);
    std::vector<float> ref = reference_avg_pool(g, x);
    std::vector<float> y(ref.size());
    avg_pool2d_forward(g, x.data(), y.data());
    for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-6f) << describe(g);

    std::vector<float> dy = random_values(y.size(), rng);
    std::vector<float> expected = reference_avg_pool_backward(g, dy);
    // Filled with garbage first: the kernel must overwrite every cell.
    std::vector<float> dx = x;
    std::fill(dx.begin(), dx.end(), 123.0f);
    avg_pool2d_backward(g, dy.data(), dx.data());
    for (std::size_t i = 0; i < dx.size(); ++i) {
      ASSERT_NEAR(dx[i], expected[i], 1e-5f) << describe(g);
    }
  }
}

// Large enough to take the OpenMP path (2 threads or more when the machine has them), on the
// 2×2 path and on the general one.
TEST(MaxPool2dKernel, ParallelPathsMatchTheReference) {
  Rng rng(503);
  const Pool2dGeometry cases[] = {{.planes = 64 * 8,
                                   .in_h = 28,
                                   .in_w = 28,
                                   .out_h = 14,
                                   .out_w = 14,
                                   .pool_h = 2,
                                   .pool_w = 2,
                                   .stride_h = 2,
                                   .stride_w = 2},
                                  {.planes = 64 * 8,
                                   .in_h = 27,
                                   .in_w = 27,
                                   .out_h = 14,
                                   .out_w = 14,
                                   .pool_h = 3,
                                   .pool_w = 3,
                                   .stride_h = 2,
                                   .stride_w = 2,
                                   .pad_top = 1,
                                   .pad_left = 1}};
  for (const Pool2dGeometry& g : cases) {
    std::vector<float> x = random_values(g.planes * g.in_h * g.in_w, rng);
    Reference ref = reference_max_pool(g, x);
    std::vector<float> y(ref.y.size());
    std::vector<int32_t> argmax(ref.y.size());
    max_pool2d_forward(g, x.data(), y.data(), argmax.data());
    EXPECT_EQ(y, ref.y) << describe(g);
    EXPECT_EQ(argmax, ref.argmax) << describe(g);
    std::vector<float> avg(ref.y.size());
    avg_pool2d_forward(g, x.data(), avg.data());
    std::vector<float> avg_ref = reference_avg_pool(g, x);
    for (std::size_t i = 0; i < avg.size(); ++i) ASSERT_NEAR(avg[i], avg_ref[i], 1e-6f);
  }
}

// A geometry with fewer outputs than the image holds windows (not one that Keras's rules give):
// the 2×2 path's backward must still zero every cell no window covers.
TEST(Pool2dKernels, TwoByTwoPathHandlesUncoveredCells) {
  Rng rng(504);
  const Pool2dGeometry g{.planes = 2,
                         .in_h = 7,
                         .in_w = 40,
                         .out_h = 2,
                         .out_w = 9,
                         .pool_h = 2,
                         .pool_w = 2,
                         .stride_h = 2,
                         .stride_w = 2};
  std::vector<float> x = random_values(2 * 7 * 40, rng), dy = random_values(2 * 2 * 9, rng);
  Reference ref = reference_max_pool(g, x);
  std::vector<float> y(ref.y.size());
  std::vector<int32_t> argmax(ref.y.size());
  max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  EXPECT_EQ(y, ref.y);
  EXPECT_EQ(argmax, ref.argmax);
  std::vector<float> dx = x, expected(x.size(), 0.0f);
  std::fill(dx.begin(), dx.end(), 123.0f);
  max_pool2d_backward(g, dy.data(), argmax.data(), dx.data());
  for (int64_t p = 0; p < 2; ++p) {
    for (int64_t o = 0; o < 18; ++o) expected[p * 280 + ref.argmax[p * 18 + o]] += dy[p * 18 + o];
  }
  EXPECT_EQ(dx, expected);
  std::fill(dx.begin(), dx.end(), 123.0f);
  avg_pool2d_backward(g, dy.data(), dx.data());
  expected = reference_avg_pool_backward(g, dy);
  EXPECT_EQ(dx, expected);
}

TEST(MaxPool2dKernel, TakesTheFirstMaximumOnTies) {
  // One 3x3 plane of equal values, pool 2 stride 1: each window's first (top-left) cell.
  Pool2dGeometry g{.planes = 1,
                   .in_h = 3,
                   .in_w = 3,
                   .out_h = 2,
                   .out_w = 2,
                   .pool_h = 2,
                   .pool_w = 2,
                   .stride_h = 1,
                   .stride_w = 1};
  std::vector<float> x(9, 0.5f), y(4);
  std::vector<int32_t> argmax(4);
  max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  EXPECT_EQ(argmax, (std::vector<int32_t>{0, 1, 3, 4}));
  // Ties later in a window lose to the earlier maximum.
  x = {1, 2, 2, 0, 2, 2, 0, 0, 0};
  max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  EXPECT_EQ(argmax, (std::vector<int32_t>{1, 1, 4, 4}));
}

TEST(MaxPool2dKernel, TwoByTwoPathTakesTheFirstMaximumAndPropagatesNaN) {
  // A 2x4 plane, pool 2 stride 2: two windows, the 2×2 path.
  Pool2dGeometry g{.planes = 1,
                   .in_h = 2,
                   .in_w = 4,
                   .out_h = 1,
                   .out_w = 2,
                   .pool_h = 2,
                   .pool_w = 2,
                   .stride_h = 2,
                   .stride_w = 2};
  std::vector<float> x = {1, 2, 3, 3,  //
                          2, 0, 3, 1};
  std::vector<float> y(2);
  std::vector<int32_t> argmax(2);
  max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  EXPECT_EQ(y, (std::vector<float>{2, 3}));
  EXPECT_EQ(argmax, (std::vector<int32_t>{1, 2}));
  x = {1,     std::nanf(""),
       -kInf, -kInf,  //
       5,     0,
       -kInf, -kInf};
  max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(argmax[0], 1);
  EXPECT_EQ(y[1], -kInf);
  EXPECT_EQ(argmax[1], 2);  // all −inf: the window's first cell
}

TEST(MaxPool2dKernel, NeverPicksPaddingAndPropagatesNaN) {
  // 3x3 plane, pool 2 stride 2, same: windows at the bottom/right hold padding cells.
  Pool2dGeometry g{.planes = 1,
                   .in_h = 3,
                   .in_w = 3,
                   .out_h = 2,
                   .out_w = 2,
                   .pool_h = 2,
                   .pool_w = 2,
                   .stride_h = 2,
                   .stride_w = 2};
  std::vector<float> x = {-5, -6, -7, -8, -9, -10, -11, -12, -kInf};
  std::vector<float> y(4);
  std::vector<int32_t> argmax(4);
  max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  EXPECT_EQ(y, (std::vector<float>{-5, -7, -11, -kInf}));
  // The last window's only real cell is −inf: it still wins (PyTorch's rule).
  EXPECT_EQ(argmax, (std::vector<int32_t>{0, 2, 6, 8}));
  x[4] = std::nanf("");
  max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(argmax[0], 4);
}

TEST(GlobalPoolKernels, AverageAndMaxPerPlane) {
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 9, 9, -1, -2, -3, -4};
  std::vector<float> y(3);
  global_avg_pool_forward(3, 4, x.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{2.5f, 7.25f, -2.5f}));
  std::vector<int32_t> argmax(3);
  global_max_pool_forward(3, 4, x.data(), y.data(), argmax.data());
  EXPECT_EQ(y, (std::vector<float>{4, 9, -1}));
  EXPECT_EQ(argmax, (std::vector<int32_t>{3, 2, 0}));  // the first of the tied 9s
  std::vector<float> dx(12, 7.0f), dy = {1, 2, 3};
  global_max_pool_backward(3, 4, dy.data(), argmax.data(), dx.data());
  EXPECT_EQ(dx, (std::vector<float>{0, 0, 0, 1, 0, 0, 2, 0, 3, 0, 0, 0}));
  global_avg_pool_backward(3, 4, dy.data(), dx.data());
  EXPECT_EQ(
      dx, (std::vector<float>{.25f, .25f, .25f, .25f, .5f, .5f, .5f, .5f, .75f, .75f, .75f, .75f}));
}

TEST(ZeroPad2dKernel, PadsAndCropsBack) {
  // Two 2x3 planes, padding top 1, bottom 0, left 2, right 1 -> 3x6.
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::vector<float> y(2 * 3 * 6, 99.0f);
  zero_pad2d_forward(2, 2, 3, {.top = 1, .bottom = 0, .left = 2, .right = 1}, x.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{0, 0, 0,  0,  0,  0,  //
                                   0, 0, 1,  2,  3,  0,  //
                                   0, 0, 4,  5,  6,  0,  //
                                   0, 0, 0,  0,  0,  0,  //
                                   0, 0, 7,  8,  9,  0,  //
                                   0, 0, 10, 11, 12, 0}));
  std::vector<float> dx(12);
  zero_pad2d_backward(2, 2, 3, {.top = 1, .bottom = 0, .left = 2, .right = 1}, y.data(), dx.data());
  EXPECT_EQ(dx, x);
}

}  // namespace
}  // namespace nnkit
