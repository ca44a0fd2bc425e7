// Radial basis function networks (RBF(k) -> Dense) against multilayer perceptrons of the same
// size, on two tasks:
//  1. function approximation: f(x, y) = sin(x)·cos(y) on [−3, 3]², trained on a 30 × 30 grid
//     with noise (σ = 0.1), tested on 2000 noise-free random points;
//  2. classification: breast cancer Wisconsin (diagnostic), 569 tumours, 30 features,
//     malignant or benign (data/breast_cancer.csv), 70/30 split per seed, standardised on the
//     training part.
// With k centres on d inputs an RBF network has k·d + k + (k + 1) parameters and an MLP with
// k tanh units d·k + k + (k + 1): the same count for the same k, so the two differ only in the
// hidden layer's kind. Both train with Adam, the same learning rate, batch size and epochs.
//   build/example_rbf [path to breast_cancer.csv]      (from the repository root)
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "nnkit/data/csv.h"
#include "nnkit/data/scaler.h"
#include "nnkit/error.h"
#include "nnkit/layers.h"
#include "nnkit/model.h"
#include "nnkit/random.h"

namespace {

using nnkit::Tensor;

const uint64_t kSeeds[] = {1, 2, 3};
// The three networks of each table: RBF with k-means centres, RBF with random centres, MLP.
const std::pair<bool, const char*> kKinds[] = {{true, "kmeans"}, {true, "random"}, {false, ""}};

// RBF(k, initializer) or Dense(k, tanh), then Dense(outputs, activation).
nnkit::Sequential make_net(bool rbf, const std::string& init, int64_t inputs, int64_t hidden,
                           const std::string& out_activation, uint64_t seed) {
  nnkit::Sequential model({.input_shape = {inputs}, .seed = seed});
  if (rbf) {
    model.add(nnkit::RBF({.units = hidden, .initializer = init}));
  } else {
    model.add(nnkit::Dense({.units = hidden, .activation = "tanh"}));
  }
  model.add(nnkit::Dense({.units = 1, .activation = out_activation}));
  return model;
}

double mse(const Tensor& p, const Tensor& y) {
  double s = 0;
  for (int64_t i = 0; i < y.size(); ++i) s += (p[i] - y[i]) * (p[i] - y[i]);
  return s / static_cast<double>(y.size());
}

void function_approximation() {
  constexpr int64_t kHidden = 40;
  constexpr int kEpochs = 200;
  nnkit::Rng noise(100);
  Tensor x_train({900, 2}), y_train({900, 1});
  for (int i = 0; i < 30; ++i) {
    for (int j = 0; j < 30; ++j) {
      const int r = i * 30 + j;
      x_train[r * 2] = -3.0f + 6.0f * static_cast<float>(i) / 29.0f;
      x_train[r * 2 + 1] = -3.0f + 6.0f * static_cast<float>(j) / 29.0f;
      y_train[r] = std::sin(x_train[r * 2]) * std::cos(x_train[r * 2 + 1]) + noise.normal(0, 0.1f);
    }
  }
  Tensor x_test({2000, 2}), y_test({2000, 1});
  for (int r = 0; r < 2000; ++r) {
    x_test[r * 2] = noise.uniform(-3.0f, 3.0f);
    x_test[r * 2 + 1] = noise.uniform(-3.0f, 3.0f);
    y_test[r] = std::sin(x_test[r * 2]) * std::cos(x_test[r * 2 + 1]);
  }

  std::cout << fmt::format(
      "1. f(x, y) = sin(x)·cos(y): 900 noisy grid points (noise variance 0.01), test MSE on 2000 "
      "noise-free points\n   {} hidden units, {} parameters each; Adam lr 0.01, {} epochs, "
      "batch 32\n\n",
      kHidden, 4 * kHidden + 1, kEpochs);
  std::cout << fmt::format("   {:>4}  {:>14}  {:>14}  {:>14}\n", "seed", "RBF (k-means)",
                           "RBF (random)", "MLP (tanh)");
  double sums[3] = {0, 0, 0};
  for (uint64_t seed : kSeeds) {
    double got[3];
    int c = 0;
    for (const auto& [rbf, init] : kKinds) {
      nnkit::Sequential model = make_net(rbf, init, 2, kHidden, "linear", seed);
      model.compile(nnkit::make_adam({.learning_rate = 0.01f}), nnkit::make_loss("mse"));
      model.fit(x_train, y_train, {.epochs = kEpochs, .batch_size = 32});
      got[c] = mse(model.predict(x_test), y_test);
      sums[c] += got[c];
      ++c;
    }
    std::cout << fmt::format("   {:>4}  {:>14.5f}  {:>14.5f}  {:>14.5f}\n", seed, got[0], got[1],
                             got[2]);
  }
  const auto n = static_cast<double>(std::size(kSeeds));
  std::cout << fmt::format("   {:>4}  {:>14.5f}  {:>14.5f}  {:>14.5f}\n\n", "mean", sums[0] / n,
                           sums[1] / n, sums[2] / n);
}

// sklearn's copy of the data: a first line "569,30,malignant,benign" (counts and class
// names, not column headers), then 30 features and the class (0 malignant, 1 benign).
Tensor read_breast_cancer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw nnkit::IoError(fmt::format("{}: cannot open", path));
  std::stringstream text;
  text << in.rdbuf();
  std::string bytes = text.str();
  const std::size_t eol = bytes.find('\n');
  if (eol == std::string::npos || bytes.compare(0, 7, "569,30,") != 0) {
    throw nnkit::FormatError(
        fmt::format("{}:1: expected scikit-learn's header \"569,30,malignant,benign\"", path));
  }
  // Column names in place of the counts, so that the CSV reader parses the rest.
  std::string header;
  for (int f = 0; f < 30; ++f) header += fmt::format("f{},", f);
  header += "class";
  const nnkit::CsvTable table = nnkit::parse_csv(header + bytes.substr(eol), path);
  if (table.values.dim(0) != 569 || table.values.dim(1) != 31) {
    throw nnkit::FormatError(fmt::format("{}: expected 569 rows of 31 columns, got {}", path,
                                         nnkit::shape_to_string(table.values.shape())));
  }
  return table.values;
}

double accuracy(const Tensor& p, const Tensor& y) {
  int64_t right = 0;
  for (int64_t i = 0; i < y.size(); ++i) right += (p[i] > 0.5f) == (y[i] > 0.5f);
  return static_cast<double>(right) / static_cast<double>(y.size());
}

void classification(const std::string& path) {
  constexpr int64_t kHidden = 10;
  constexpr int kEpochs = 100;
  const Tensor data = read_breast_cancer(path);
  const int64_t rows = data.dim(0), train = rows * 7 / 10;
  std::cout << fmt::format(
      "2. Breast cancer Wisconsin: {} training / {} test tumours, 30 features standardised on "
      "the training part\n   {} hidden units, {} parameters each; Adam lr 0.01, {} epochs, "
      "batch 32, binary cross-entropy; test accuracy\n\n",
      train, rows - train, kHidden, 32 * kHidden + 1, kEpochs);
  std::cout << fmt::format("   {:>4}  {:>14}  {:>14}  {:>14}\n", "seed", "RBF (k-means)",
                           "RBF (random)", "MLP (tanh)");
  double sums[3] = {0, 0, 0};
  for (uint64_t seed : kSeeds) {
    // Shuffle the rows, then the first 70% train.
    std::vector<int64_t> order(static_cast<std::size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) order[static_cast<std::size_t>(i)] = i;
    nnkit::Rng rng(seed + 1000);
    for (int64_t i = rows - 1; i > 0; --i)
      std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
    Tensor shuffled = data.gather_rows(order.data(), rows);
    Tensor x({rows, 30}), y({rows, 1});
    for (int64_t r = 0; r < rows; ++r) {
      for (int f = 0; f < 30; ++f) x[r * 30 + f] = shuffled[r * 31 + f];
      y[r] = shuffled[r * 31 + 30];
    }
    nnkit::Scaler scaler(nnkit::ScalerKind::kStandard);
    scaler.fit(x, train);
    x = scaler.transform(x);
    Tensor x_train = x.slice_rows(0, train), y_train = y.slice_rows(0, train);
    Tensor x_test = x.slice_rows(train, rows), y_test = y.slice_rows(train, rows);
    double got[3];
    int c = 0;
    for (const auto& [rbf, init] : kKinds) {
      nnkit::Sequential model = make_net(rbf, init, 30, kHidden, "sigmoid", seed);
      model.compile(nnkit::make_adam({.learning_rate = 0.01f}),
                    nnkit::make_loss("binary_crossentropy"));
      model.fit(x_train, y_train, {.epochs = kEpochs, .batch_size = 32});
      got[c] = accuracy(model.predict(x_test), y_test);
      sums[c] += got[c];
      ++c;
    }
    std::cout << fmt::format("   {:>4}  {:>13.1f}%  {:>13.1f}%  {:>13.1f}%\n", seed, 100 * got[0],
                             100 * got[1], 100 * got[2]);
  }
  const auto n = static_cast<double>(std::size(kSeeds));
  std::cout << fmt::format("   {:>4}  {:>13.1f}%  {:>13.1f}%  {:>13.1f}%\n", "mean",
                           100 * sums[0] / n, 100 * sums[1] / n, 100 * sums[2] / n);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string path = argc > 1 ? argv[1] : "data/breast_cancer.csv";
    const auto start = std::chrono::steady_clock::now();
    function_approximation();
    classification(path);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::cout << fmt::format("\n({:.1f} s)\n", took.count());
    return 0;
  } catch (const nnkit::Error& e) {
    std::cerr << "example_rbf: " << e.what() << "\n";
    return 2;
  }
}
