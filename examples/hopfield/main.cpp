// The capacity curve of a Hopfield network of N = 784 neurons: P patterns stored by the
// Hebbian rule and by the projection (pseudo-inverse) rule, each recalled asynchronously from a
// copy with 10% of its bits flipped; the fraction recalled exactly and the mean overlap with
// the pattern, for P from 1 to well above 0.138·N. Twice: random patterns, and binarised
// Fashion-MNIST test images (28×28, pixel > 0.5), which are strongly correlated.
//   build/example_hopfield [fashion-mnist dir] [seed]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "nnkit/data/idx.h"
#include "nnkit/error.h"
#include "nnkit/models/hopfield.h"

namespace {

using nnkit::BipolarState;
using nnkit::HopfieldRule;

constexpr double kNoise = 0.1;
constexpr int64_t kMinProbes = 100;  // small P: repeat with new patterns until this many probes

// One cell of the table: stores each pattern set by `rule` and scores recall over all sets.
struct Cell {
  nnkit::RecallScore score;
  bool dependent = false;  // the projection rule refused a set (linearly dependent)
};

Cell measure(const std::vector<std::vector<BipolarState>>& sets, HopfieldRule rule,
             nnkit::Rng& rng) {
  Cell cell;
  double exact = 0, overlap = 0;
  for (const auto& patterns : sets) {
    nnkit::Hopfield net(static_cast<int64_t>(patterns[0].size()));
    try {
      net.store(patterns, rule);
    } catch (const nnkit::ValueError&) {
      cell.dependent = true;
      return cell;
    }
    const nnkit::RecallScore s = nnkit::score_recall(net, patterns, kNoise, {}, rng);
    cell.score.probes += s.probes;
    exact += s.exact * static_cast<double>(s.probes);
    overlap += s.mean_overlap * static_cast<double>(s.probes);
  }
  cell.score.exact = exact / static_cast<double>(cell.score.probes);
  cell.score.mean_overlap = overlap / static_cast<double>(cell.score.probes);
  return cell;
}

std::string cell_text(const Cell& c) {
  if (c.dependent) return fmt::format("{:>16}", "dependent");
  return fmt::format("{:>7.3f} {:>8.3f}", c.score.exact, c.score.mean_overlap);
}

// Mean of |overlap| over distinct pairs of the first `count` patterns.
double mean_abs_overlap(const std::vector<BipolarState>& patterns, std::size_t count) {
  double sum = 0;
  int64_t pairs = 0;
  for (std::size_t a = 0; a < count; ++a) {
    for (std::size_t b = a + 1; b < count; ++b, ++pairs)
      sum += std::abs(nnkit::overlap(patterns[a], patterns[b]));
  }
  return sum / static_cast<double>(pairs);
}

// `sets_for(P)` gives the pattern sets for P stored patterns.
template <class SetsFor>
void print_curve(const std::string& title, int64_t neurons, const std::vector<int64_t>& counts,
                 SetsFor&& sets_for, nnkit::Rng& rng) {
  std::cout << title << "\n";
  std::cout << fmt::format("{:>5} {:>6} | {:>16} | {:>16}\n", "P", "P/N", "Hebbian", "projection");
  std::cout << fmt::format("{:>5} {:>6} | {:>7} {:>8} | {:>7} {:>8}\n", "", "", "exact", "overlap",
                           "exact", "overlap");
  for (int64_t p : counts) {
    const std::vector<std::vector<BipolarState>> sets = sets_for(p);
    const Cell hebb = measure(sets, HopfieldRule::kHebbian, rng);
    const Cell proj = measure(sets, HopfieldRule::kProjection, rng);
    std::cout << fmt::format("{:>5} {:>6.3f} | {} | {}\n", p,
                             static_cast<double>(p) / static_cast<double>(neurons), cell_text(hebb),
                             cell_text(proj));
  }
  std::cout << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const int64_t n = 784;
    const std::vector<int64_t> counts = {1, 5, 10, 20, 39, 60, 80, 108, 120, 160, 200, 300, 400};
    nnkit::Rng rng(seed);
    std::cout << fmt::format(
        "Hopfield network, N = {} neurons; each stored pattern recalled asynchronously from a "
        "copy with {:.0f}% of its bits flipped ({} bits); 'exact': fraction of probes ending "
        "exactly on their pattern, 'overlap': mean (1/N)·s·p at the end. At least {} probes a "
        "row. 0.138·N = {:.0f}.\n\n",
        n, 100 * kNoise, std::llround(kNoise * n), kMinProbes, 0.138 * n);

    // Random patterns: fresh sets until there are enough probes.
    nnkit::Rng data_rng(seed + 1000);
    auto random_sets = [&](int64_t p) {
      std::vector<std::vector<BipolarState>> sets;
      for (int64_t probes = 0; probes < kMinProbes; probes += p)
        sets.push_back(nnkit::random_patterns(p, n, data_rng));
      return sets;
    };
    const std::vector<BipolarState> sample = nnkit::random_patterns(400, n, data_rng);
    print_curve(fmt::format("Random patterns (each bit ±1 with probability 1/2; mean |overlap| "
                            "between two: {:.3f})",
                            mean_abs_overlap(sample, 400)),
                n, counts, random_sets, rng);

    // Fashion-MNIST test images in file order (all ten classes mixed); each set for P takes
    // the next P images, so small P also see many different images.
    const std::string path = dir + "/t10k-images-idx3-ubyte.gz";
    const std::vector<BipolarState> images =
        nnkit::bipolar_patterns(nnkit::read_idx_images(path), 0.5f);
    int64_t on = 0;
    for (std::size_t i = 0; i < 400; ++i) on += std::count(images[i].begin(), images[i].end(), 1);
    auto image_sets = [&](int64_t p) {
      std::vector<std::vector<BipolarState>> sets;
      std::size_t next = 0;
      for (int64_t probes = 0; probes < kMinProbes; probes += p) {
        sets.emplace_back(images.begin() + static_cast<std::ptrdiff_t>(next),
                          images.begin() + static_cast<std::ptrdiff_t>(next + p));
        next += static_cast<std::size_t>(p);
      }
      return sets;
    };
    print_curve(fmt::format("Fashion-MNIST test images, binarised at 0.5 ({}; {:.0f}% of pixels "
                            "+1; mean |overlap| between two: {:.3f})",
                            path, 100.0 * static_cast<double>(on) / (400.0 * n),
                            mean_abs_overlap(images, 400)),
                n, counts, image_sets, rng);
  } catch (const nnkit::Error& e) {
    std::cerr << "example_hopfield: " << e.what() << "\n";
    return 2;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << fmt::format("({:.1f} s)\n", seconds);
  return 0;
}
