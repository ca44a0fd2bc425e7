#include "nnkit/models/gan_experiments.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <iostream>
#include <vector>

#include "nnkit/error.h"
#include "nnkit/random.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;

TEST(GanExperiments, RingCentresAreEvenlySpaced) {
  const auto c = ring_centres({.modes = 4, .radius = 2.0, .sigma = 0.1});
  ASSERT_EQ(c.size(), 4u);
  const double want[4][2] = {{2, 0}, {0, 2}, {-2, 0}, {0, -2}};
  for (int m = 0; m < 4; ++m) {
    EXPECT_NEAR(c[m][0], want[m][0], 1e-12) << m;
    EXPECT_NEAR(c[m][1], want[m][1], 1e-12) << m;
  }
}

TEST(GanExperiments, RingSamplesSitAroundTheirCentres) {
  // 8000 samples of the default ring: every point within 6σ of some centre (a miss has
  // probability e^−18 per point), each mode near 1/8 of them (binomial sd ≈ 0.004).
  const GaussianRing ring;
  Rng rng(5);
  const Tensor x = sample_ring(ring, 8000, rng);
  ASSERT_EQ(x.shape(), (Shape{8000, 2}));
  const ModeCoverage c = mode_coverage(x, ring, 0.1);
  EXPECT_EQ(c.covered, 8);
  // Within 3σ in 2-D: 1 − e^{−9/2} = 0.98889 of each Gaussian.
  EXPECT_NEAR(c.high_quality, 0.98889, 0.005);
  for (double s : c.shares) EXPECT_NEAR(s, 0.98889 / 8, 0.015);
}

TEST(GanExperiments, ModeCoverageCountsPointsWithin3Sigma) {
  // Ring of 4, radius 1, σ = 0.1 (3σ = 0.3): centres (1,0), (0,1), (−1,0), (0,−1).
  const GaussianRing ring{.modes = 4, .radius = 1.0, .sigma = 0.1};
  const Tensor points({5, 2}, {1.0f, 0.0f,    // mode 0, at the centre
                               1.2f, 0.2f,    // mode 0: distance √0.08 = 0.283 <= 0.3
                               0.0f, 1.29f,   // mode 1: 0.29
                               -1.0f, 0.31f,  // none: 0.31 from mode 2
                               0.0f, 0.0f});  // none
  ModeCoverage c = mode_coverage(points, ring, 0.2);
  ASSERT_EQ(c.shares.size(), 4u);
  EXPECT_DOUBLE_EQ(c.shares[0], 0.4);
  EXPECT_DOUBLE_EQ(c.shares[1], 0.2);
  EXPECT_DOUBLE_EQ(c.shares[2], 0.0);
  EXPECT_DOUBLE_EQ(c.shares[3], 0.0);
  EXPECT_EQ(c.covered, 2);  // 0.2 >= 0.2 counts
  EXPECT_DOUBLE_EQ(c.high_quality, 0.6);
  EXPECT_EQ(mode_coverage(points, ring, 0.3).covered, 1);
}

TEST(GanExperiments, ScatterPlotDrawsRealAndGeneratedPoints) {
  // 64 × 64 picture of [−2, 2]²: x = 1 → column floor(3/4·64) = 48; y = 1 → row 63 − 48 = 15.
  const Image img =
      scatter_plot(Tensor({1, 2}, {1.0f, 1.0f}), Tensor({2, 2}, {-1.0f, -1.0f, 9, 9}), 2.0, 64);
  ASSERT_EQ(img.width, 64);
  ASSERT_EQ(img.channels, 3);
  auto at = [&](int64_t x, int64_t y) {
    const uint8_t* p = img.pixels.data() + (y * 64 + x) * 3;
    return std::vector<int>{p[0], p[1], p[2]};
  };
  EXPECT_EQ(at(48, 15), (std::vector<int>{40, 90, 220}));    // real: blue
  EXPECT_EQ(at(49, 15), (std::vector<int>{40, 90, 220}));    // the dot's arm
  EXPECT_EQ(at(49, 16), (std::vector<int>{255, 255, 255}));  // not its corner
  // x = −1 → column 16; y = −1 → row 63 − 16 = 47. (9, 9) lies outside and is left out.
  EXPECT_EQ(at(16, 47), (std::vector<int>{220, 40, 40}));   // generated: red
  EXPECT_EQ(at(32, 5), (std::vector<int>{210, 210, 210}));  // the vertical axis
  EXPECT_EQ(at(5, 5), (std::vector<int>{255, 255, 255}));
}

TEST(GanExperiments, RefusesBadArguments) {
  Rng rng(1);
  expect_throw_containing<ValueError>([&] { sample_ring({}, 0, rng); }, "n must be >= 1, got 0");
  expect_throw_containing<ShapeError>(
      [&] {
        mode_coverage(Tensor({3, 3}), {}, 0.1);
      },
      "samples must be [N, 2] points, got [3, 3]");
  expect_throw_containing<ValueError>(
      [&] {
        mode_coverage(Tensor({3, 2}), {}, 0.0);
      },
      "min_share must be in (0, 1], got 0");
  expect_throw_containing<ShapeError>(
      [&] {
        scatter_plot(Tensor({3}), Tensor({1, 2}), 1, 64);
      },
      "real must be [N, 2] points, got [3]");
  expect_throw_containing<ValueError>(
      [&] {
        scatter_plot(Tensor({1, 2}), Tensor({1, 2}), 1, 8);
      },
      "size must be >= 16, got 8");
  expect_throw_containing<ValueError>(
      [&] {
        scatter_plot(Tensor({1, 2}), Tensor({1, 2}), 0, 64);
      },
      "extent must be > 0, got 0");
  expect_throw_containing<IoError>(
      [&] { run_gan_mixture({.out_dir = "/nonexistent/nnkit"}, std::cout); },
      "out dir /nonexistent/nnkit: not a directory");
  expect_throw_containing<IoError>(
      [&] { run_gan_fashion({.fashion_mnist_dir = "/nonexistent/fm"}, std::cout); },
      "/nonexistent/fm/train-images-idx3-ubyte.gz");
}

}  // namespace
}  // namespace nnkit
