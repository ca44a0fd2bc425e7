// The perceptron of the design notes (one M-P neuron with a step activation, Rosenblatt's
// learning rule) on two tasks:
//  1. Iris setosa against versicolor (Fisher's Iris data, data/iris.csv), which a plane
//     separates: it learns the training set without error, then classifies held-out flowers;
//  2. XOR, which no line separates: every epoch has errors, while the design notes' classic
//     backpropagation network with one hidden layer (nnkit::ClassicBP) learns it.
//   build/example_perceptron [path to iris.csv] [seed]      (from the repository root)
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/data/csv.h"
#include "nnkit/error.h"
#include "nnkit/models/classic_bp.h"
#include "nnkit/models/perceptron.h"
#include "nnkit/random.h"

namespace {

struct Split {
  nnkit::Tensor x_train, t_train, x_test, t_test;
};

// Setosa (class 0, target 0) and versicolor (class 1, target 1), each class shuffled and split
// 70/30, so that both parts hold both classes in the data's proportions.
Split iris_two_classes(const std::string& path, uint64_t seed) {
  const nnkit::CsvTable table = nnkit::read_csv(path);
  // scikit-learn's copy: a header "150,4,setosa,versicolor,virginica", then 4 features and
  // the class index per row.
  if (table.values.dim(1) != 5) {
    throw nnkit::FormatError(fmt::format(
        "{}: expected 5 columns (4 features and the class), got {}", path, table.values.dim(1)));
  }
  std::vector<std::vector<int64_t>> rows(2);
  for (int64_t r = 0; r < table.rows(); ++r) {
    const float c = table.values[r * 5 + 4];
    if (c == 0 || c == 1) rows[static_cast<std::size_t>(c)].push_back(r);
  }
  nnkit::Rng rng(seed);
  std::vector<float> xtr, ttr, xte, tte;
  for (int c = 0; c < 2; ++c) {
    auto& idx = rows[c];
    for (std::size_t k = idx.size() - 1; k > 0; --k) std::swap(idx[k], idx[rng.below(k + 1)]);
    const std::size_t train = idx.size() * 7 / 10;
    for (std::size_t k = 0; k < idx.size(); ++k) {
      auto& x = k < train ? xtr : xte;
      auto& t = k < train ? ttr : tte;
      for (int f = 0; f < 4; ++f) x.push_back(table.values[idx[k] * 5 + f]);
      t.push_back(static_cast<float>(c));
    }
  }
  const auto ntr = static_cast<int64_t>(ttr.size()), nte = static_cast<int64_t>(tte.size());
  return {nnkit::Tensor({ntr, 4}, xtr), nnkit::Tensor({ntr}, ttr), nnkit::Tensor({nte, 4}, xte),
          nnkit::Tensor({nte}, tte)};
}

double accuracy(const nnkit::Tensor& y, const nnkit::Tensor& t) {
  int64_t right = 0;
  for (int64_t i = 0; i < t.size(); ++i) right += y[i] == t[i] ? 1 : 0;
  return static_cast<double>(right) / static_cast<double>(t.size());
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "data/iris.csv";
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  try {
    const Split d = iris_two_classes(path, seed);
    std::cout << fmt::format(
        "1. Iris setosa (0) against versicolor (1), {}: 4 features (sepal and petal length and\n   "
        "width, cm), {} training and {} test flowers (70/30 per class, seed {})\n",
        path, d.t_train.size(), d.t_test.size(), seed);
    nnkit::Perceptron p(
        {.inputs = 4, .learning_rate = 0.1f, .max_epochs = 100, .shuffle = true, .seed = seed});
    const nnkit::PerceptronResult r = p.train(d.x_train, d.t_train);
    std::cout << fmt::format("   errors per epoch: {}\n", fmt::join(r.errors_per_epoch, " "));
    std::cout << fmt::format("   {} after {} epochs; w = ({:.2f}), b = {:.2f}\n",
                             r.converged ? "no error" : "still errors", r.epochs,
                             fmt::join(p.weights().to_vector(), ", "), p.bias());
    std::cout << fmt::format("   accuracy: training {:.1f}%, test {:.1f}%\n\n",
                             100 * accuracy(p.predict(d.x_train), d.t_train),
                             100 * accuracy(p.predict(d.x_test), d.t_test));

    const nnkit::Tensor x({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
    const nnkit::Tensor t({4}, {0, 1, 1, 0});
    std::cout << "2. XOR\n";
    nnkit::Perceptron px({.inputs = 2, .learning_rate = 0.1f, .max_epochs = 1000});
    const nnkit::PerceptronResult rx = px.train(x, t);
    std::cout << fmt::format(
        "   perceptron, errors per epoch (first 20 of {}): {}\n   {}; the fewest errors in an "
        "epoch: {}\n",
        rx.epochs,
        fmt::join(
            std::vector<int64_t>(rx.errors_per_epoch.begin(), rx.errors_per_epoch.begin() + 20),
            " "),
        rx.converged ? "learned it" : "never an epoch without error: no line separates XOR",
        *std::min_element(rx.errors_per_epoch.begin(), rx.errors_per_epoch.end()));
    nnkit::ClassicBP bp({.layer_sizes = {2, 4, 1},
                         .learning_rate = 0.5f,
                         .precision = 1e-3,
                         .max_iterations = 500000,
                         .seed = seed});
    const nnkit::ClassicBPResult rb = bp.train(x, t.reshaped({4, 1}));
    std::cout << fmt::format(
        "   classic BP, 2-4-1 sigmoid network: {} after {} one-sample steps, error {:.6g}\n",
        rb.converged ? "converged" : "did not converge", rb.iterations, rb.error);
    const nnkit::Tensor yp = px.predict(x), yb = bp.predict(x);
    std::cout << "   x1 x2 | target | perceptron | classic BP (output, class)\n";
    int bp_right = 0, p_right = 0;
    for (int i = 0; i < 4; ++i) {
      const float cls = yb[i] > 0.5f ? 1.0f : 0.0f;
      bp_right += cls == t[i] ? 1 : 0;
      p_right += yp[i] == t[i] ? 1 : 0;
      std::cout << fmt::format("    {:.0f}  {:.0f} | {:>6.0f} | {:>10.0f} | {:.4f} -> {:.0f}\n",
                               x[2 * i], x[2 * i + 1], t[i], yp[i], yb[i], cls);
    }
    std::cout << fmt::format("   right: perceptron {}/4, classic BP {}/4\n", p_right, bp_right);
    return r.converged && rb.converged ? 0 : 1;
  } catch (const nnkit::Error& e) {
    std::cerr << "example_perceptron: " << e.what() << "\n";
    return 2;
  }
}
