#include "nnkit/models/gan_experiments.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <utility>

#include "fmt/format.h"
#include "nnkit/data/idx.h"
#include "nnkit/error.h"
#include "nnkit/layers.h"
#include "nnkit/losses.h"
#include "nnkit/optimizers.h"

namespace nnkit {

std::vector<std::array<double, 2>> ring_centres(const GaussianRing& ring) {
  std::vector<std::array<double, 2>> out;
  for (int m = 0; m < ring.modes; ++m) {
    const double angle = 2.0 * std::numbers::pi * m / ring.modes;
    out.push_back({ring.radius * std::cos(angle), ring.radius * std::sin(angle)});
  }
  return out;
}

Tensor sample_ring(const GaussianRing& ring, int64_t n, Rng& rng) {
  if (n < 1) throw ValueError(fmt::format("sample_ring: n must be >= 1, got {}", n));
  if (ring.modes < 1) throw ValueError("sample_ring: the ring needs modes >= 1");
  const auto centres = ring_centres(ring);
  Tensor x({n, 2});
  for (int64_t i = 0; i < n; ++i) {
    const auto& c = centres[rng.below(static_cast<uint64_t>(ring.modes))];
    x.data()[2 * i] = static_cast<float>(c[0] + ring.sigma * rng.normal());
    x.data()[2 * i + 1] = static_cast<float>(c[1] + ring.sigma * rng.normal());
  }
  return x;
}

namespace {

void check_points(const char* who, const char* what, const Tensor& t) {
  if (t.rank() != 2 || t.dim(1) != 2) {
    throw ShapeError(
        fmt::format("{}: {} must be [N, 2] points, got {}", who, what, shape_to_string(t.shape())));
  }
}

}  // namespace

ModeCoverage mode_coverage(const Tensor& samples, const GaussianRing& ring, double min_share) {
  check_points("mode_coverage", "samples", samples);
  if (samples.dim(0) < 1) throw ShapeError("mode_coverage: no samples");
  if (!(min_share > 0 && min_share <= 1))
    throw ValueError(fmt::format("mode_coverage: min_share must be in (0, 1], got {}", min_share));
  const auto centres = ring_centres(ring);
  const double r2 = 9.0 * ring.sigma * ring.sigma;
  const int64_t n = samples.dim(0);
  std::vector<int64_t> counts(centres.size(), 0);
  int64_t good = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = samples.data()[2 * i], y = samples.data()[2 * i + 1];
    bool any = false;
    for (std::size_t m = 0; m < centres.size(); ++m) {
      const double dx = x - centres[m][0], dy = y - centres[m][1];
      if (dx * dx + dy * dy <= r2) {
        ++counts[m];
        any = true;
      }
    }
    good += any;
  }
  ModeCoverage c;
  for (int64_t k : counts) {
    c.shares.push_back(static_cast<double>(k) / static_cast<double>(n));
    c.covered += c.shares.back() >= min_share;
  }
  c.high_quality = static_cast<double>(good) / static_cast<double>(n);
  return c;
}

Image scatter_plot(const Tensor& real, const Tensor& fake, double extent, int64_t size) {
  check_points("scatter_plot", "real", real);
  check_points("scatter_plot", "fake", fake);
  if (size < 16) throw ValueError(fmt::format("scatter_plot: size must be >= 16, got {}", size));
  if (!(extent > 0))
    throw ValueError(fmt::format("scatter_plot: extent must be > 0, got {}", extent));
  Image img;
  img.width = img.height = size;
  img.channels = 3;
  img.pixels.assign(static_cast<std::size_t>(size * size * 3), 255);
  auto put = [&](int64_t px, int64_t py, std::array<uint8_t, 3> rgb) {
    if (px < 0 || py < 0 || px >= size || py >= size) return;
    std::copy(rgb.begin(), rgb.end(), img.pixels.begin() + (py * size + px) * 3);
  };
  auto to_pixel = [&](double v) {
    return static_cast<int64_t>(
        std::floor((v + extent) / (2 * extent) * static_cast<double>(size)));
  };
  for (int64_t i = 0; i < size; ++i) {  // axes through the origin
    put(i, size / 2, {210, 210, 210});
    put(size / 2, i, {210, 210, 210});
  }
  auto draw = [&](const Tensor& points, std::array<uint8_t, 3> rgb) {
    for (int64_t i = 0; i < points.dim(0); ++i) {
      const double x = points.data()[2 * i], y = points.data()[2 * i + 1];
      if (!std::isfinite(x) || !std::isfinite(y) || std::abs(x) > extent || std::abs(y) > extent)
        continue;
      const int64_t px = to_pixel(x), py = size - 1 - to_pixel(y);
      for (int64_t dy = -1; dy <= 1; ++dy)  // a plus-shaped dot, 5 pixels
        for (int64_t dx = -1; dx <= 1; ++dx)
          if (dx == 0 || dy == 0) put(px + dx, py + dy, rgb);
    }
  };
  draw(real, {40, 90, 220});
  draw(fake, {220, 40, 40});
  return img;
}

namespace {

std::unique_ptr<Optimizer> gan_adam(float lr) {
  // β1 = 0.5: the usual choice for GANs since DCGAN (Radford et al.); 0.9 oscillates more.
  return make_adam({.learning_rate = lr, .beta_1 = 0.5f});
}

void compile_for_gan(Sequential& m, float lr) {
  m.compile(gan_adam(lr), make_loss("binary_crossentropy"));  // the loss is not used by Gan
}

void check_common(const GanExperimentOptions& o) {
  if (o.epochs < 0) throw ValueError(fmt::format("epochs must be >= 1, got {}", o.epochs));
  if (!std::filesystem::is_directory(o.out_dir))
    throw IoError(fmt::format("out dir {}: not a directory", o.out_dir));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

GanExperimentReport run_gan_mixture(const GanExperimentOptions& options, std::ostream& out) {
  check_common(options);
  const int epochs = options.epochs > 0 ? options.epochs : 60;
  const GaussianRing ring;
  Rng data_rng(options.seed);
  const Tensor data = sample_ring(ring, 8192, data_rng);

  constexpr int64_t kNoise = 2, kWidth = 128;
  Sequential g({.input_shape = {kNoise}, .seed = options.seed + 1});
  g.add(Dense({.units = kWidth, .activation = "relu"}))
      .add(Dense({.units = kWidth, .activation = "relu"}))
      .add(Dense({.units = 2}));
  Sequential d({.input_shape = {2}, .seed = options.seed + 2});
  d.add(Dense({.units = kWidth, .activation = "leaky_relu", .alpha = 0.2f}))
      .add(Dense({.units = kWidth, .activation = "leaky_relu", .alpha = 0.2f}))
      .add(Dense({.units = 1}));
  compile_for_gan(g, 5e-4f);
  compile_for_gan(d, 5e-4f);
  Gan gan(std::move(g), std::move(d), options.seed + 3);

  out << fmt::format(
      "GAN on a ring of {} Gaussians (radius {}, sigma {}): {} samples, batch 128, noise dim {}\n",
      ring.modes, ring.radius, ring.sigma, data.dim(0), kNoise);
  GanExperimentReport report;
  const auto t0 = std::chrono::steady_clock::now();
  report.history = gan.train(data, {.epochs = epochs, .batch_size = 128}, [&](const GanEpoch& e) {
    if ((e.epoch + 1) % 10 == 0 || e.epoch + 1 == epochs) {
      out << fmt::format("epoch {:4d}  d_loss {:.3f}  g_loss {:.3f}  D(x) {:.3f}  D(G(z)) {:.3f}\n",
                         e.epoch + 1, e.d_loss, e.g_loss, e.d_real, e.d_fake);
    }
  });
  report.seconds = seconds_since(t0);

  constexpr int64_t kSamples = 10000;
  constexpr double kMinShare = 0.02;
  const Tensor fake = gan.sample(kSamples);
  report.coverage = mode_coverage(fake, ring, kMinShare);
  std::string shares;
  for (double s : report.coverage.shares) shares += fmt::format(" {:.3f}", s);
  out << fmt::format(
      "modes covered: {} of {} (a mode counts when >= {:.0f}% of {} samples lie within 3 sigma of "
      "its centre)\n",
      report.coverage.covered, ring.modes, kMinShare * 100, kSamples);
  out << fmt::format("share per mode:{}\n", shares);
  out << fmt::format("high-quality samples (within 3 sigma of some centre): {:.1f}%\n",
                     report.coverage.high_quality * 100);
  out << fmt::format("training time: {:.1f} s\n", report.seconds);
  Rng plot_rng(options.seed + 4);
  const std::string png = (std::filesystem::path(options.out_dir) / "gan_mixture.png").string();
  write_png(png, scatter_plot(sample_ring(ring, 2000, plot_rng), gan.sample(2000), 3.0, 512));
  out << "wrote " << png << " (blue: real, red: generated)\n";
  report.pngs.push_back(png);
  return report;
}

GanExperimentReport run_gan_fashion(const GanExperimentOptions& options, std::ostream& out) {
  check_common(options);
  if (options.images < 0)
    throw ValueError(fmt::format("images must be >= 0, got {}", options.images));
  if (options.png_every < 0)
    throw ValueError(fmt::format("png_every must be >= 1, got {}", options.png_every));
  const int epochs = options.epochs > 0 ? options.epochs : 12;
  const int every = options.png_every > 0 ? options.png_every : 5;
  Tensor images = read_idx_images(
      (std::filesystem::path(options.fashion_mnist_dir) / "train-images-idx3-ubyte.gz").string());
  const int64_t n = std::min(options.images > 0 ? options.images : 12000, images.dim(0));
  const int64_t pixels = images.size() / images.dim(0);
  // [N, 784] in [−1, 1], to match the generator's tanh.
  Tensor data = Tensor::uninitialized({n, pixels});
  for (int64_t i = 0; i < n * pixels; ++i) data.data()[i] = images.data()[i] * 2.0f - 1.0f;
  images = Tensor();

  constexpr int64_t kNoise = 64;
  Sequential g({.input_shape = {kNoise}, .seed = options.seed + 1});
  g.add(Dense({.units = 256, .activation = "leaky_relu", .alpha = 0.2f}))
      .add(Dense({.units = pixels, .activation = "tanh"}));
  Sequential d({.input_shape = {pixels}, .seed = options.seed + 2});
  d.add(Dense({.units = 256, .activation = "leaky_relu", .alpha = 0.2f})).add(Dense({.units = 1}));
  compile_for_gan(g, 5e-4f);
  compile_for_gan(d, 5e-4f);
  Gan gan(std::move(g), std::move(d), options.seed + 3);
  const Tensor fixed_noise = gan.noise(64);

  out << fmt::format("GAN on Fashion-MNIST: {} training images, batch 64, noise dim {}\n", n,
                     kNoise);
  GanExperimentReport report;
  const auto t0 = std::chrono::steady_clock::now();
  report.history = gan.train(data, {.epochs = epochs, .batch_size = 64}, [&](const GanEpoch& e) {
    out << fmt::format(
        "epoch {:3d}  d_loss {:.3f}  g_loss {:.3f}  D(x) {:.3f}  D(G(z)) {:.3f}  {:.0f} s\n",
        e.epoch + 1, e.d_loss, e.g_loss, e.d_real, e.d_fake, seconds_since(t0));
    if ((e.epoch + 1) % every == 0 || e.epoch + 1 == epochs) {
      Tensor samples = gan.generator().forward(fixed_noise, Mode::Infer);
      samples.reshape({64, 28, 28});
      const std::string png = (std::filesystem::path(options.out_dir) /
                               fmt::format("gan_fashion_epoch_{:03d}.png", e.epoch + 1))
                                  .string();
      write_png(png, image_grid(samples, 8, -1.0f, 1.0f, 2, 2));
      out << "wrote " << png << "\n";
      report.pngs.push_back(png);
    }
  });
  report.seconds = seconds_since(t0);
  out << fmt::format("training time: {:.1f} s\n", report.seconds);
  return report;
}

}  // namespace nnkit
