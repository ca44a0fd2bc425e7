// The two GAN experiments of examples/gan and `nnkit gan`, kept here so that both run the same
// code and print the same figures:
// - mixture: 8 Gaussians (σ = 0.05) on a ring of radius 2 in the plane, the usual test of mode
//   collapse; reports how many modes the generated samples cover and writes a scatter plot of
//   real against generated samples;
// - fashion-mnist: a small dense GAN on Fashion-MNIST's training images, writing a grid of
//   generated images every few epochs.
#pragma once

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "nnkit/io/png.h"
#include "nnkit/models/gan.h"
#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

// Gaussians of equal weight with centres evenly spaced on a circle (the first on the x axis).
struct GaussianRing {
  int modes = 8;
  double radius = 2.0;
  double sigma = 0.05;  // per coordinate
};

std::vector<std::array<double, 2>> ring_centres(const GaussianRing& ring);
// n >= 1 samples [n, 2]: a mode drawn uniformly, then its centre plus N(0, σ²) per coordinate.
Tensor sample_ring(const GaussianRing& ring, int64_t n, Rng& rng);

// A sample belongs to a mode when it lies within 3σ of its centre (the disks do not overlap
// while 3σ is below radius·sin(π/modes)); it is "high quality" when it belongs to any. A mode
// is covered when at least `min_share` of all the samples belong to it.
struct ModeCoverage {
  int covered = 0;
  std::vector<double> shares;  // per mode, the fraction of the samples within 3σ of it
  double high_quality = 0;     // the fraction within 3σ of some mode
};
// samples [N, 2] with N >= 1. Throws ShapeError otherwise, ValueError for min_share not in (0, 1].
ModeCoverage mode_coverage(const Tensor& samples, const GaussianRing& ring, double min_share);

// A white `size` × `size` RGB picture of the square [−extent, extent]² (y up) with light grey
// axes, `real` [N, 2] drawn as blue dots and `fake` [M, 2] as red dots over them; points outside
// are left out. Throws ShapeError for other shapes, ValueError for size < 16 or extent <= 0.
Image scatter_plot(const Tensor& real, const Tensor& fake, double extent, int64_t size);

struct GanExperimentOptions {
  int epochs = 0;  // 0: the experiment's default
  std::string out_dir = ".";
  uint64_t seed = 1;
  std::string fashion_mnist_dir = "/usr/share/datasets/fashion-mnist";
  int64_t images = 0;  // fashion-mnist: the first this many training images (0: 12000)
  int png_every = 0;   // fashion-mnist: a grid every this many epochs (0: the default, 5)
};

struct GanExperimentReport {
  std::vector<GanEpoch> history;
  std::vector<std::string> pngs;  // the pictures written, in order
  ModeCoverage coverage;          // mixture only
  double seconds = 0;             // training time
};

// Trains on 8192 ring samples (default 60 epochs of 64 batches), prints one line per 10 epochs
// and then the coverage of 10000 generated samples (covered when >= 2% of them lie within 3σ),
// writes out_dir/gan_mixture.png. Throws ValueError on bad options, IoError when the picture
// cannot be written.
GanExperimentReport run_gan_mixture(const GanExperimentOptions& options, std::ostream& out);
// Trains G (64 → 256 → 784, tanh) against D (784 → 256 → 1) on the first `images` of
// Fashion-MNIST's training images (train-images-idx3-ubyte.gz under fashion_mnist_dir, scaled to
// [−1, 1]; default 12 epochs), prints a line per epoch and writes out_dir/gan_fashion_epoch_NNN.png
// (8×8 samples from fixed noise) every png_every epochs and after the last. Throws IoError or
// FormatError for the data, ValueError on bad options.
GanExperimentReport run_gan_fashion(const GanExperimentOptions& options, std::ostream& out);

}  // namespace nnkit
