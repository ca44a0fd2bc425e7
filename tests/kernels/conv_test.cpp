#include "nnkit/kernels/conv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "nnkit/random.h"

namespace nnkit {
namespace {

TEST(ConvAxis, FollowsKerasPaddingRules) {
  // "same", stride 1, odd kernel: symmetric.
  EXPECT_EQ(conv_axis(28, 3, 1, 1, true).out, 28);
  EXPECT_EQ(conv_axis(28, 3, 1, 1, true).before, 1);
  EXPECT_EQ(conv_axis(28, 3, 1, 1, true).after, 1);
  // "same", stride 2: out = ceil(28 / 2) = 14, total = 13·2 + 3 − 28 = 1, all of it after.
  EXPECT_EQ(conv_axis(28, 3, 2, 1, true).out, 14);
  EXPECT_EQ(conv_axis(28, 3, 2, 1, true).before, 0);
  EXPECT_EQ(conv_axis(28, 3, 2, 1, true).after, 1);
  // Even kernel: total 3, 1 before, 2 after.
  EXPECT_EQ(conv_axis(10, 4, 1, 1, true).before, 1);
  EXPECT_EQ(conv_axis(10, 4, 1, 1, true).after, 2);
  // Dilation 2 widens a 3-tap kernel to 5: total 4.
  EXPECT_EQ(conv_axis(9, 3, 1, 2, true).before, 2);
  EXPECT_EQ(conv_axis(9, 3, 1, 2, true).after, 2);
  // Stride larger than the kernel needs no padding at all: out = 2, (2 − 1)·3 + 1 − 6 < 0.
  EXPECT_EQ(conv_axis(6, 1, 3, 1, true).out, 2);
  EXPECT_EQ(conv_axis(6, 1, 3, 1, true).after, 0);
  // "valid": floor((in − span) / stride) + 1, no padding; 0 when the kernel does not fit.
  EXPECT_EQ(conv_axis(5, 3, 2, 1, false).out, 2);
  EXPECT_EQ(conv_axis(6, 3, 2, 1, false).out, 2);
  EXPECT_EQ(conv_axis(7, 3, 1, 2, false).out, 3);
  EXPECT_EQ(conv_axis(4, 3, 1, 2, false).out, 0);
  EXPECT_EQ(conv_axis(6, 3, 2, 1, false).after, 0);
}

TEST(ConvReference, ComputesACrossCorrelationByHand) {
  // One 3×3 image, one 2×2 kernel, "valid": y[i, j] = Σ x[i + a, j + b]·w[a, b] + bias.
  const Conv2dGeometry g = {.batch = 1,
                            .channels = 1,
                            .height = 3,
                            .width = 3,
                            .filters = 1,
                            .kernel_h = 2,
                            .kernel_w = 2,
                            .out_h = 2,
                            .out_w = 2};
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 0, 0, -1}, bias = 0.5f;
  float y[4];
  conv2d_forward_reference(g, x, w, &bias, y);
  EXPECT_EQ(std::vector<float>(y, y + 4), (std::vector<float>{-3.5f, -3.5f, -3.5f, -3.5f}));
  float dx[9], dw[4] = {10, 10, 10, 10}, db = 1;
  const float dy[4] = {1, 2, 3, 4};
  conv2d_backward_data_reference(g, dy, w, dx);
  EXPECT_EQ(std::vector<float>(dx, dx + 9), (std::vector<float>{1, 2, 0, 3, 3, -2, 0, -3, -4}));
  conv2d_backward_weights_reference(g, x, dy, dw, &db);
  // dw[a, b] += Σ dy[i, j]·x[i + a, j + b]; dbias += Σ dy.
  EXPECT_EQ(std::vector<float>(dw, dw + 4), (std::vector<float>{47, 57, 77, 87}));
  EXPECT_EQ(db, 11);
}

TEST(ConvReference, PutsTheOddSamePaddingAtTheBottomRight) {
  // 3×3 ones, 2×2 ones kernel, "same": total padding 1 per axis, after the image.
  ConvAxis axis = conv_axis(3, 2, 1, 1, true);
  const Conv2dGeometry g = {.batch = 1,
                            .channels = 1,
                            .height = 3,
                            .width = 3,
                            .filters = 1,
                            .kernel_h = 2,
                            .kernel_w = 2,
                            .pad_top = axis.before,
                            .pad_bottom = axis.after,
                            .pad_left = axis.before,
                            .pad_right = axis.after,
                            .out_h = axis.out,
                            .out_w = axis.out};
  std::vector<float> x(9, 1.0f), w(4, 1.0f), y(9);
  conv2d_forward_reference(g, x.data(), w.data(), nullptr, y.data());
  EXPECT_EQ(y, (std::vector<float>{4, 4, 2, 4, 4, 2, 2, 2, 1}));
}

// channels, height, width, filters, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
// dilation_w, same, batch.
using Case = std::tuple<int, int, int, int, int, int, int, int, int, int, bool, int>;

Conv2dGeometry geometry_of(const Case& c) {
  auto [channels, height, width, filters, kh, kw, sh, sw, dh, dw, same, batch] = c;
  const ConvAxis rows = conv_axis(height, kh, sh, dh, same);
  const ConvAxis cols = conv_axis(width, kw, sw, dw, same);
  return {.batch = batch,
          .channels = channels,
          .height = height,
          .width = width,
          .filters = filters,
          .kernel_h = kh,
          .kernel_w = kw,
          .stride_h = sh,
          .stride_w = sw,
          .dilation_h = dh,
          .dilation_w = dw,
          .pad_top = rows.before,
          .pad_bottom = rows.after,
          .pad_left = cols.before,
          .pad_right = cols.after,
          .out_h = rows.out,
          .out_w = cols.out};
}

std::vector<float> random_values(int64_t n, Rng& rng) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& e : v) e = rng.uniform(-1.0f, 1.0f);
  return v;
}

void expect_near(const std::vector<float>& fast, const std::vector<float>& reference,
                 float tolerance, const std::string& what) {
  ASSERT_EQ(fast.size(), reference.size()) << what;
  for (std::size_t i = 0; i < fast.size(); ++i) {
    ASSERT_NEAR(fast[i], reference[i], tolerance) << what << " at " << i;
  }
}

class ConvKernelMatchesReference
    : public ::testing::TestWithParam<std::tuple<Case, ConvAlgorithm>> {};

TEST_P(ConvKernelMatchesReference, ForwardAndBothBackwardPasses) {
  const Conv2dGeometry g = geometry_of(std::get<0>(GetParam()));
  ASSERT_GT(g.out_h, 0);
  ASSERT_GT(g.out_w, 0);
  Conv2dKernel kernel(std::get<1>(GetParam()));
  Rng rng(11);
  const int64_t x_size = g.batch * g.channels * g.height * g.width;
  const int64_t w_size = g.filters * g.channels * g.kernel_h * g.kernel_w;
  const int64_t y_size = g.batch * g.filters * g.out_h * g.out_w;
  std::vector<float> x = random_values(x_size, rng), w = random_values(w_size, rng);
  std::vector<float> bias = random_values(g.filters, rng), dy = random_values(y_size, rng);
  // Sums of up to channels·kh·kw (or filters·kh·kw, batch·pixels) terms of size ≤ 1.
  const float tol = 2e-5f * static_cast<float>(g.channels * g.kernel_h * g.kernel_w +
                                               g.filters * 9 + g.batch * g.out_h * g.out_w);

  for (bool with_bias : {true, false}) {
    const float* b = with_bias ? bias.data() : nullptr;
    std::vector<float> y(y_size, 7.0f), y_ref(y_size);
    kernel.forward(g, x.data(), w.data(), b, y.data());
    conv2d_forward_reference(g, x.data(), w.data(), b, y_ref.data());
    expect_near(y, y_ref, tol, with_bias ? "forward" : "forward without bias");
    kernel.forward(g, x.data(), w.data(), b, y.data(), /*relu=*/true);
    for (float& v : y_ref) v = std::max(v, 0.0f);
    expect_near(y, y_ref, tol, "forward with ReLU");

    // Gradients accumulate into whatever dw and dbias hold; dx is overwritten.
    std::vector<float> dw = random_values(w_size, rng), db = random_values(g.filters, rng);
    std::vector<float> dw_ref = dw, db_ref = db, dx(x_size, 7.0f), dx_ref(x_size);
    kernel.backward(g, x.data(), dy.data(), w.data(), dx.data(), dw.data(),
                    with_bias ? db.data() : nullptr);
    conv2d_backward_data_reference(g, dy.data(), w.data(), dx_ref.data());
    conv2d_backward_weights_reference(g, x.data(), dy.data(), dw_ref.data(),
                                      with_bias ? db_ref.data() : nullptr);
    expect_near(dx, dx_ref, tol, "dx");
    expect_near(dw, dw_ref, tol, "dw");
    expect_near(db, db_ref, tol, "dbias");

    // Without dx: the weight gradients alone, accumulated a second time.
    kernel.backward(g, x.data(), dy.data(), w.data(), nullptr, dw.data(),
                    with_bias ? db.data() : nullptr);
    conv2d_backward_weights_reference(g, x.data(), dy.data(), dw_ref.data(),
                                      with_bias ? db_ref.data() : nullptr);
    expect_near(dw, dw_ref, 2 * tol, "dw, second backward without dx");
    expect_near(db, db_ref, 2 * tol, "dbias, second backward without dx");

    // Through a fused ReLU: the mask marks y > 0, and backward runs on dy ⊙ mask.
    std::vector<uint8_t> mask(y_size, 7);
    kernel.forward(g, x.data(), w.data(), b, y.data(), /*relu=*/true, mask.data());
    expect_near(y, y_ref, tol, "forward with ReLU and mask");
    std::vector<float> dy_masked = dy;
    for (int64_t k = 0; k < y_size; ++k) {
      ASSERT_EQ(mask[k], y[k] > 0.0f ? 1 : 0) << k;
      if (!mask[k]) dy_masked[k] = 0.0f;
    }
    kernel.backward(g, x.data(), dy.data(), w.data(), dx.data(), dw.data(),
                    with_bias ? db.data() : nullptr, mask.data());
    conv2d_backward_data_reference(g, dy_masked.data(), w.data(), dx_ref.data());
    conv2d_backward_weights_reference(g, x.data(), dy_masked.data(), dw_ref.data(),
                                      with_bias ? db_ref.data() : nullptr);
    expect_near(dx, dx_ref, tol, "dx through ReLU");
    expect_near(dw, dw_ref, 3 * tol, "dw through ReLU");
    expect_near(db, db_ref, 3 * tol, "dbias through ReLU");
  }
}

INSTANTIATE_TEST_SUITE_P(
    AwkwardSizes, ConvKernelMatchesReference,
    ::testing::Combine(
        ::testing::Values(
            // channels, height, width, filters, kh, kw, sh, sw, dh, dw, same, batch
            Case{3, 7, 9, 5, 3, 3, 1, 1, 1, 1, true, 3},     // odd sizes, "same"
            Case{3, 7, 9, 5, 3, 3, 1, 1, 1, 1, false, 1},    // "valid", batch 1
            Case{2, 8, 7, 3, 3, 2, 2, 2, 1, 1, true, 3},     // stride 2 "same": pad after only
            Case{5, 11, 10, 7, 3, 3, 3, 3, 1, 1, true, 1},   // stride 3
            Case{5, 11, 10, 7, 3, 3, 3, 2, 1, 1, false, 3},  // "valid" with rows left over
            Case{3, 9, 9, 9, 3, 3, 1, 1, 2, 2, true, 3},     // dilation 2, "same"
            Case{3, 9, 10, 9, 2, 3, 1, 1, 2, 1, false, 1},   // dilation 2 by 1, rectangular
            Case{4, 6, 6, 10, 4, 4, 1, 1, 1, 1, true, 3},    // even kernel: pad 1 before, 2 after
            Case{2, 2, 3, 3, 5, 5, 1, 1, 1, 1, true, 3},     // kernel larger than the image
            Case{4, 5, 6, 3, 1, 1, 1, 1, 1, 1, false, 3},    // 1×1: the image is its column
            Case{4, 5, 6, 3, 1, 1, 2, 2, 1, 1, true, 1},     // 1×1 with stride
            Case{17, 6, 5, 13, 3, 3, 1, 1, 1, 1, true, 3},   // channels, filters not ×8
            Case{1, 28, 28, 32, 3, 3, 1, 1, 1, 1, true, 3},  // the CNN's first convolution
            Case{32, 14, 14, 64, 3, 3, 1, 1, 1, 1, true, 2}  // and its second
            ),
        ::testing::Values(ConvAlgorithm::gemm, ConvAlgorithm::dnnl, ConvAlgorithm::dnnl_plain,
                          ConvAlgorithm::automatic)));

TEST(ConvKernel, PicksOneDnnForSixteenChannelsAndFiltersOrMore) {
  EXPECT_EQ(conv_algorithm_for(geometry_of(Case{32, 14, 14, 64, 3, 3, 1, 1, 1, 1, true, 64})),
            ConvAlgorithm::dnnl);
  EXPECT_EQ(conv_algorithm_for(geometry_of(Case{1, 28, 28, 32, 3, 3, 1, 1, 1, 1, true, 64})),
            ConvAlgorithm::gemm);
  EXPECT_EQ(conv_algorithm_for(geometry_of(Case{32, 14, 14, 8, 3, 3, 1, 1, 1, 1, true, 64})),
            ConvAlgorithm::gemm);
}

TEST(ConvKernel, CachesGeometriesOfDifferentBatches) {
  // A training epoch's full batches and its smaller last batch, in turn.
  for (ConvAlgorithm algorithm :
       {ConvAlgorithm::gemm, ConvAlgorithm::dnnl, ConvAlgorithm::dnnl_plain}) {
    Conv2dKernel kernel(algorithm);
    Rng rng(12);
    for (int batch : {4, 1, 4, 3, 2, 5, 6, 4}) {
      const Conv2dGeometry g = geometry_of(Case{3, 6, 6, 4, 3, 3, 1, 1, 1, 1, true, batch});
      std::vector<float> x = random_values(batch * 3 * 36, rng), w = random_values(4 * 27, rng);
      std::vector<float> y(batch * 4 * 36), y_ref(y.size());
      kernel.forward(g, x.data(), w.data(), nullptr, y.data());
      conv2d_forward_reference(g, x.data(), w.data(), nullptr, y_ref.data());
      expect_near(y, y_ref, 1e-4f, "batch " + std::to_string(batch));
    }
  }
}

}  // namespace
}  // namespace nnkit
