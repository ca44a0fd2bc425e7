#include "nnkit/kernels/conv_transpose.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "nnkit/random.h"

namespace nnkit {
namespace {

std::vector<float> random_values(int64_t n, Rng& rng) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& e : v) e = rng.uniform(-1.0f, 1.0f);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], 1e-4 * (1.0 + std::fabs(want[i]))) << what << "[" << i << "]";
  }
}

// The transposed convolution's three passes are the convolution's three passes in another order
// (conv_transpose.h); the plain direct loops of conv.h are the independent reference.
void check_geometry(Conv2dGeometry g) {
  Rng rng(4242);
  const int64_t x_size = g.batch * g.filters * g.out_h * g.out_w;
  const int64_t y_size = g.batch * g.channels * g.height * g.width;
  const int64_t w_size = g.filters * g.channels * g.kernel_h * g.kernel_w;
  const std::vector<float> x = random_values(x_size, rng), w = random_values(w_size, rng);
  const std::vector<float> bias = random_values(g.channels, rng);
  const std::vector<float> dy = random_values(y_size, rng);
  ConvTranspose2dKernel kernel;

  std::vector<float> y(static_cast<std::size_t>(y_size), 7.0f), want(y.size());
  kernel.forward(g, x.data(), w.data(), bias.data(), y.data());
  conv2d_backward_data_reference(g, x.data(), w.data(), want.data());
  const int64_t plane = g.height * g.width;
  for (int64_t k = 0; k < y_size; ++k) want[k] += bias[(k / plane) % g.channels];
  expect_close(y, want, "y");

  std::vector<float> dx(static_cast<std::size_t>(x_size), 7.0f), want_dx(dx.size());
  std::vector<float> dw(static_cast<std::size_t>(w_size), 0.5f), want_dw(dw.size(), 0.5f);
  std::vector<float> db(static_cast<std::size_t>(g.channels), 0.25f), want_db(db.size(), 0.25f);
  kernel.backward(g, x.data(), dy.data(), w.data(), dx.data(), dw.data(), db.data());
  conv2d_forward_reference(g, dy.data(), w.data(), nullptr, want_dx.data());
  // As a convolution of dy down to x's size, the filter gradient of w [filters, channels, ...]
  // pairs dy (its input) with x (its output's gradient); the bias belongs to dy's channels.
  conv2d_backward_weights_reference(g, dy.data(), x.data(), want_dw.data(), nullptr);
  for (int64_t k = 0; k < y_size; ++k) want_db[(k / plane) % g.channels] += dy[k];
  expect_close(dx, want_dx, "dx");
  expect_close(dw, want_dw, "dw (accumulated onto 0.5)");
  expect_close(db, want_db, "dbias (accumulated onto 0.25)");
}

TEST(ConvTranspose2dKernel, MatchesTheConvolutionReferences) {
  // Stride 2, kernel 3, "same" for 4 -> 8: crop 0 on top, 1 at the bottom.
  check_geometry({.batch = 3,
                  .channels = 2,
                  .height = 8,
                  .width = 8,
                  .filters = 3,
                  .kernel_h = 3,
                  .kernel_w = 3,
                  .stride_h = 2,
                  .stride_w = 2,
                  .pad_top = 0,
                  .pad_bottom = 1,
                  .pad_left = 0,
                  .pad_right = 1,
                  .out_h = 4,
                  .out_w = 4});
  // Stride 1 "valid", rectangular kernel, one image.
  check_geometry({.batch = 1,
                  .channels = 3,
                  .height = 6,
                  .width = 7,
                  .filters = 2,
                  .kernel_h = 2,
                  .kernel_w = 3,
                  .out_h = 5,
                  .out_w = 5});
  // Stride larger than the kernel: output rows no window reaches (negative bottom padding).
  check_geometry({.batch = 4,
                  .channels = 1,
                  .height = 9,
                  .width = 6,
                  .filters = 2,
                  .kernel_h = 2,
                  .kernel_w = 1,
                  .stride_h = 3,
                  .stride_w = 2,
                  .pad_bottom = -1,
                  .pad_right = -1,
                  .out_h = 3,
                  .out_w = 3});
  // Cropped on top and left (PyTorch padding 1, output_padding 1): 3 -> 6.
  check_geometry({.batch = 2,
                  .channels = 2,
                  .height = 6,
                  .width = 6,
                  .filters = 1,
                  .kernel_h = 3,
                  .kernel_w = 3,
                  .stride_h = 2,
                  .stride_w = 2,
                  .pad_top = 1,
                  .pad_bottom = 0,
                  .pad_left = 1,
                  .pad_right = 0,
                  .out_h = 3,
                  .out_w = 3});
}

}  // namespace
}  // namespace nnkit
