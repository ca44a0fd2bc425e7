// Autoencoders on Fashion-MNIST: a dense one (784 → 128 → 32 → 128 → 784), a convolutional one
// (Conv2D + MaxPooling2D encoder to a 32-number code, Conv2DTranspose + UpSampling2D decoder) and
// a denoising one (the dense network trained on inputs with Gaussian noise, clean targets). Each
// is scored by the mean squared reconstruction error on the test set, beside PCA with the same
// code size (32) computed here from the training images. Writes reconstructions.png (rows:
// originals, PCA, dense, convolutional) and denoising.png (rows: noisy inputs, PCA of the noisy
// inputs, denoised, originals).
//   build/example_autoencoder [--data DIR] [--epochs E] [--conv-epochs E] [--train-samples N]
//                             [--test-samples N] [--noise S] [--out-dir DIR] [--seed S]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "nnkit/data/idx.h"
#include "nnkit/error.h"
#include "nnkit/io/png.h"
#include "nnkit/kernels/gemm.h"
#include "nnkit/model.h"

namespace {

using nlohmann::json;
using nnkit::Tensor;
using nnkit::Trans;

constexpr int64_t kPixels = 28 * 28;
constexpr int64_t kCode = 32;
constexpr int64_t kShown = 10;  // images per row of the pictures

struct Options {
  std::string data = "/usr/share/datasets/fashion-mnist";
  int epochs = 10;      // dense and denoising
  int conv_epochs = 5;  // the convolutional one costs ~10x more per sample
  int64_t train_samples = 20000;
  int64_t conv_train_samples = 20000;
  int64_t test_samples = 10000;
  float noise = 0.3f;  // stddev of the Gaussian noise of the denoising variant
  std::string out_dir = ".";
  uint64_t seed = 1;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw nnkit::ValueError(fmt::format("{}: expected a value after it", flag));
    const std::string value = argv[++i];
    try {
      if (flag == "--data") {
        o.data = value;
      } else if (flag == "--epochs") {
        o.epochs = std::stoi(value);
      } else if (flag == "--conv-epochs") {
        o.conv_epochs = std::stoi(value);
      } else if (flag == "--train-samples") {
        o.train_samples = std::stoll(value);
        o.conv_train_samples = std::min(o.conv_train_samples, o.train_samples);
      } else if (flag == "--conv-train-samples") {
        o.conv_train_samples = std::stoll(value);
      } else if (flag == "--test-samples") {
        o.test_samples = std::stoll(value);
      } else if (flag == "--noise") {
        o.noise = std::stof(value);
      } else if (flag == "--out-dir") {
        o.out_dir = value;
      } else if (flag == "--seed") {
        o.seed = std::stoull(value);
      } else {
        throw nnkit::ValueError(fmt::format("unknown flag {}", flag));
      }
    } catch (const std::logic_error&) {
      throw nnkit::ValueError(fmt::format("{}: not a number: '{}'", flag, value));
    }
  }
  if (o.epochs < 0 || o.conv_epochs < 0 || o.train_samples < kCode + 1 || o.test_samples < 1 ||
      o.conv_train_samples < 1 || o.noise < 0) {
    throw nnkit::ValueError(
        "--epochs and --conv-epochs must be >= 0, --train-samples > 32, --test-samples and "
        "--conv-train-samples >= 1, --noise >= 0");
  }
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The first n images as [n, 784].
Tensor flat_rows(const Tensor& images, int64_t n) {
  return images.slice_rows(0, std::min(n, images.dim(0))).reshaped({-1, kPixels});
}

double mse(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return s / static_cast<double>(a.size());
}

// PCA by orthogonal iteration: the top `k` eigenvectors of the training covariance. Written here
// rather than called from LAPACK because nnkit links no LAPACK (only oneDNN's GEMM), and k = 32
// of 784 eigenvectors take a few hundred 784×784×32 GEMMs: well under a second.
struct Pca {
  std::vector<float> mean;        // [784]
  std::vector<float> components;  // [784, k], orthonormal columns
  int64_t k = 0;
  double explained = 0;  // fraction of the total variance the k components hold
  int iterations = 0;

  Pca(const Tensor& x, int64_t code, nnkit::Rng& rng) : k(code) {
    const int64_t n = x.dim(0), d = x.dim(1);
    mean.assign(static_cast<std::size_t>(d), 0.0f);
    std::vector<double> sum(static_cast<std::size_t>(d), 0.0);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < d; ++c) sum[c] += x[r * d + c];
    for (int64_t c = 0; c < d; ++c) mean[c] = static_cast<float>(sum[c] / n);
    std::vector<float> centred(static_cast<std::size_t>(n * d));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < d; ++c) centred[r * d + c] = x[r * d + c] - mean[c];
    // C = Xcᵀ·Xc / n, [d, d].
    std::vector<float> cov(static_cast<std::size_t>(d * d));
    nnkit::gemm(Trans::Yes, Trans::No, d, d, n, 1.0f / static_cast<float>(n), centred.data(), d,
                centred.data(), d, 0.0f, cov.data(), d);
    double total = 0;
    for (int64_t c = 0; c < d; ++c) total += cov[c * d + c];
    // Q ← orth(C·Q) until the variance Q holds, trace(Qᵀ·C·Q), stops growing: that is what
    // the reconstruction error depends on (total variance − held), and it settles long before
    // the individual eigenvectors do (the gaps between eigenvalues near the 32nd are small).
    components.resize(static_cast<std::size_t>(d * k));
    for (float& v : components) v = rng.normal();
    orthonormalise(d);
    std::vector<float> next(components.size());
    double held = 0;
    for (iterations = 1; iterations <= 1000; ++iterations) {
      nnkit::gemm(Trans::No, Trans::No, d, k, d, 1.0f, cov.data(), d, components.data(), k, 0.0f,
                  next.data(), k);
      double now = 0;
      for (std::size_t i = 0; i < next.size(); ++i) now += double(next[i]) * components[i];
      std::swap(next, components);
      orthonormalise(d);
      const bool settled = now - held < 1e-7 * total;
      held = now;
      if (settled) break;
    }
    explained = held / total;
  }

  // Modified Gram-Schmidt on the columns of components [d, k].
  void orthonormalise(int64_t d) {
    for (int64_t j = 0; j < k; ++j) {
      for (int64_t i = 0; i < j; ++i) {
        double dot = 0;
        for (int64_t r = 0; r < d; ++r)
          dot += double(components[r * k + i]) * components[r * k + j];
        for (int64_t r = 0; r < d; ++r)
          components[r * k + j] -= static_cast<float>(dot) * components[r * k + i];
      }
      double norm = 0;
      for (int64_t r = 0; r < d; ++r) norm += double(components[r * k + j]) * components[r * k + j];
      const float inv = static_cast<float>(1.0 / std::sqrt(norm));
      for (int64_t r = 0; r < d; ++r) components[r * k + j] *= inv;
    }
  }

  // mean + (x − mean)·Q·Qᵀ, x [n, d].
  Tensor reconstruct(const Tensor& x) const {
    const int64_t n = x.dim(0), d = x.dim(1);
    Tensor centred = Tensor::uninitialized({n, d});
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < d; ++c) centred[r * d + c] = x[r * d + c] - mean[c];
    std::vector<float> code(static_cast<std::size_t>(n * k));
    nnkit::gemm(Trans::No, Trans::No, n, k, d, 1.0f, centred.data(), d, components.data(), k, 0.0f,
                code.data(), k);
    Tensor out = Tensor::uninitialized({n, d});
    nnkit::gemm(Trans::No, Trans::Yes, n, d, k, 1.0f, code.data(), k, components.data(), k, 0.0f,
                out.data(), d);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < d; ++c) out[r * d + c] += mean[c];
    return out;
  }
};

json dense_spec(uint64_t seed) {
  return {{"input_shape", {kPixels}},
          {"layers",
           {{{"type", "Dense"}, {"units", 128}, {"activation", "relu"}},
            {{"type", "Dense"}, {"units", kCode}, {"activation", "linear"}},
            {{"type", "Dense"}, {"units", 128}, {"activation", "relu"}},
            {{"type", "Dense"}, {"units", kPixels}, {"activation", "sigmoid"}}}},
          {"loss", "binary_crossentropy"},
          {"optimizer", {{"type", "adam"}, {"learning_rate", 0.002}}},
          {"seed", seed}};
}

// 28×28 → (Conv 16, pool) 14×14 → (Conv 32, pool) 7×7 → Dense 32, the code; then Dense 16·7·7
// → Conv2DTranspose stride 2 to 14×14 → UpSampling2D to 28×28 → Conv2D to one channel.
json conv_spec(uint64_t seed) {
  return {{"input_shape", {1, 28, 28}},
          {"layers",
           {{{"type", "Conv2D"},
             {"filters", 16},
             {"kernel_size", 3},
             {"padding", "same"},
             {"activation", "relu"}},
            {{"type", "MaxPooling2D"}, {"pool_size", 2}},
            {{"type", "Conv2D"},
             {"filters", 32},
             {"kernel_size", 3},
             {"padding", "same"},
             {"activation", "relu"}},
            {{"type", "MaxPooling2D"}, {"pool_size", 2}},
            {{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", kCode}, {"activation", "linear"}},
            {{"type", "Dense"}, {"units", 16 * 7 * 7}, {"activation", "relu"}},
            {{"type", "Reshape"}, {"target_shape", {16, 7, 7}}},
            {{"type", "Conv2DTranspose"},
             {"filters", 16},
             {"kernel_size", 3},
             {"strides", 2},
             {"padding", "same"},
             {"activation", "relu"}},
            {{"type", "UpSampling2D"}, {"size", 2}},
            {{"type", "Conv2D"},
             {"filters", 1},
             {"kernel_size", 3},
             {"padding", "same"},
             {"activation", "sigmoid"}}}},
          {"loss", "binary_crossentropy"},
          {"optimizer", {{"type", "adam"}, {"learning_rate", 0.002}}},
          {"seed", seed}};
}

// x with Gaussian noise of stddev `noise`, clipped to [0, 1] (still an image).
Tensor noisy(const Tensor& x, float noise, nnkit::Rng& rng) {
  Tensor out = x;
  for (int64_t i = 0; i < out.size(); ++i)
    out[i] = std::clamp(out[i] + rng.normal(0.0f, noise), 0.0f, 1.0f);
  return out;
}

struct Trained {
  Tensor reconstruction;  // of the test inputs, [n, 784]
  double train_seconds = 0;
};

Trained train(const json& spec, const Tensor& x, const Tensor& target, const Tensor& test_x,
              int epochs, const std::string& name) {
  nnkit::Sequential model = nnkit::Sequential::from_spec(spec);
  const auto start = std::chrono::steady_clock::now();
  for (int e = 0; e < epochs; ++e) {
    const nnkit::History h = model.fit(x, target, {.epochs = 1, .batch_size = 64});
    std::cout << fmt::format("  {} epoch {:>2}/{}: loss {:.4f} ({:.1f} s)\n", name, e + 1, epochs,
                             h["loss"].back(), seconds_since(start))
              << std::flush;
  }
  Trained t;
  t.train_seconds = seconds_since(start);
  t.reconstruction = model.predict(test_x).reshaped({-1, kPixels});
  return t;
}

// Rows of kShown images each, stacked into one picture.
void write_rows(const std::string& path, const std::vector<Tensor>& rows) {
  Tensor all({static_cast<int64_t>(rows.size()) * kShown, 1, 28, 28});
  for (std::size_t r = 0; r < rows.size(); ++r)
    std::copy(rows[r].data(), rows[r].data() + kShown * kPixels,
              all.data() + static_cast<int64_t>(r) * kShown * kPixels);
  nnkit::write_png(path, nnkit::image_grid(all, kShown, 0.0f, 1.0f, 2, 2));
  std::cout << "wrote " << path << "\n";
}

int run(const Options& o) {
  const auto start = std::chrono::steady_clock::now();
  const Tensor train_images = nnkit::read_idx_images(o.data + "/train-images-idx3-ubyte.gz");
  const Tensor test_images = nnkit::read_idx_images(o.data + "/t10k-images-idx3-ubyte.gz");
  const Tensor x = flat_rows(train_images, o.train_samples);
  const Tensor test = flat_rows(test_images, o.test_samples);
  const int64_t conv_n = std::min(o.conv_train_samples, x.dim(0));
  std::cout << fmt::format(
      "Fashion-MNIST: {} training images ({} for the convolutional model), {} test images; code "
      "size {}; {} threads\n",
      x.dim(0), conv_n, test.dim(0), kCode, omp_get_max_threads());
  nnkit::Rng rng(o.seed);

  auto t0 = std::chrono::steady_clock::now();
  const Pca pca(x, kCode, rng);
  const Tensor pca_test = pca.reconstruct(test);
  const double pca_seconds = seconds_since(t0);
  std::cout << fmt::format(
      "PCA: {} components hold {:.1f}% of the variance ({} sweeps, {:.2f} s)\n", kCode,
      100 * pca.explained, pca.iterations, pca_seconds);

  const Trained dense = train(dense_spec(o.seed), x, x, test, o.epochs, "dense");
  const Trained conv = train(conv_spec(o.seed), x.slice_rows(0, conv_n).reshaped({-1, 1, 28, 28}),
                             x.slice_rows(0, conv_n).reshaped({-1, 1, 28, 28}),
                             test.reshaped({-1, 1, 28, 28}), o.conv_epochs, "conv");
  // Denoising: a fresh draw of noise each epoch would need a callback; one noisy copy of the
  // training set is drawn here instead.
  const Tensor noisy_x = noisy(x, o.noise, rng);
  const Tensor noisy_test = noisy(test, o.noise, rng);
  const Trained denoise = train(dense_spec(o.seed), noisy_x, x, noisy_test, o.epochs, "denoise");
  const Tensor pca_noisy = pca.reconstruct(noisy_test);

  std::cout << fmt::format("\nTest-set reconstruction MSE (mean over {} images × 784 pixels):\n",
                           test.dim(0));
  std::cout << fmt::format("  {:<44} {:>8}  {:>9}\n", "model", "MSE", "train (s)");
  std::cout << fmt::format("  {:<44} {:>8.5f}  {:>9.2f}\n", "PCA, 32 components",
                           mse(pca_test, test), pca_seconds);
  std::cout << fmt::format("  {:<44} {:>8.5f}  {:>9.2f}\n", "dense 784-128-32-128-784",
                           mse(dense.reconstruction, test), dense.train_seconds);
  std::cout << fmt::format("  {:<44} {:>8.5f}  {:>9.2f}\n", "convolutional, code 32",
                           mse(conv.reconstruction, test), conv.train_seconds);
  std::cout << fmt::format(
      "Denoising (Gaussian noise stddev {}, clipped to [0, 1]; MSE against "
      "the clean images):\n",
      o.noise);
  std::cout << fmt::format("  {:<44} {:>8.5f}\n", "noisy input itself", mse(noisy_test, test));
  std::cout << fmt::format("  {:<44} {:>8.5f}\n", "PCA of the noisy input, 32 components",
                           mse(pca_noisy, test));
  std::cout << fmt::format("  {:<44} {:>8.5f}  {:>9.2f}\n", "denoising dense autoencoder",
                           mse(denoise.reconstruction, test), denoise.train_seconds);

  std::filesystem::create_directories(o.out_dir);
  if (test.dim(0) >= kShown) {
    write_rows(o.out_dir + "/reconstructions.png",
               {test, pca_test, dense.reconstruction, conv.reconstruction});
    write_rows(o.out_dir + "/denoising.png", {noisy_test, pca_noisy, denoise.reconstruction, test});
  }
  std::cout << fmt::format("total {:.1f} s\n", seconds_since(start));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const nnkit::Error& e) {
    std::cerr << "example_autoencoder: " << e.what() << "\n";
    return 2;
  }
}
