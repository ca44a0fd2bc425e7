#include "nnkit/models/hopfield.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {

// Relative size below which a field counts as zero (see the header) and below which a Cholesky
// pivot counts as zero (a pattern in the span of the ones before it).
constexpr double kTieTolerance = 1e-9;
constexpr double kDependenceTolerance = 1e-9;

void check_bipolar(const BipolarState& state, int64_t neurons, const std::string& who) {
  if (static_cast<int64_t>(state.size()) != neurons) {
    throw ValueError(
        fmt::format("{}: expected {} values (one per neuron), got {}", who, neurons, state.size()));
  }
  for (std::size_t i = 0; i < state.size(); ++i) {
    if (state[i] != 1 && state[i] != -1) {
      throw ValueError(
          fmt::format("{}: value {} at position {} is not bipolar (+1 or -1)", who, state[i], i));
    }
  }
}

// W·s for every neuron, in double.
std::vector<double> fields(const std::vector<double>& w, const BipolarState& s) {
  const std::size_t n = s.size();
  std::vector<double> h(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const double* row = w.data() + i * n;
    double sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += row[j] * s[j];
    h[i] = sum;
  }
  return h;
}

// A field's verdict under the sign(0) convention: +1, −1, or 0 for a tie (keep the state).
int field_sign(double h, double tolerance) {
  if (std::abs(h) <= tolerance) return 0;
  return h > 0 ? 1 : -1;
}

}  // namespace

HopfieldRule parse_hopfield_rule(const std::string& name) {
  if (name == "hebbian") return HopfieldRule::kHebbian;
  if (name == "projection") return HopfieldRule::kProjection;
  throw ValueError(fmt::format("Hopfield rule '{}': expected hebbian or projection", name));
}

std::string hopfield_rule_name(HopfieldRule rule) {
  return rule == HopfieldRule::kHebbian ? "hebbian" : "projection";
}

HopfieldUpdate parse_hopfield_update(const std::string& name) {
  if (name == "async") return HopfieldUpdate::kAsynchronous;
  if (name == "sync") return HopfieldUpdate::kSynchronous;
  throw ValueError(fmt::format("Hopfield update '{}': expected async or sync", name));
}

std::string hopfield_update_name(HopfieldUpdate update) {
  return update == HopfieldUpdate::kAsynchronous ? "async" : "sync";
}

Hopfield::Hopfield(int64_t neurons) : neurons_(neurons) {
  if (neurons < 1) throw ValueError(fmt::format("Hopfield: neurons must be >= 1, got {}", neurons));
  weights_.assign(static_cast<std::size_t>(neurons * neurons), 0.0);
}

void Hopfield::check_state(const BipolarState& state, const char* who) const {
  check_bipolar(state, neurons_, fmt::format("Hopfield::{}: state", who));
}

void Hopfield::compute_tie_tolerance() {
  // The scale of the whole matrix, not of row i: a row whose weights should be 0 (the projection
  // rule's neuron whose unit vector lies in the span) holds rounding residue, and relative to
  // itself that residue would look like a real field.
  const int64_t n = neurons_;
  double largest = 0;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < n; ++j) sum += std::abs(weights_[i * n + j]);
    largest = std::max(largest, sum);
  }
  tie_tolerance_ = kTieTolerance * largest;
}

void Hopfield::store(const std::vector<BipolarState>& patterns, HopfieldRule rule) {
  const int64_t n = neurons_;
  const int64_t count = static_cast<int64_t>(patterns.size());
  if (count == 0) throw ValueError("Hopfield::store: no patterns to store");
  for (int64_t p = 0; p < count; ++p)
    check_bipolar(patterns[p], n, fmt::format("Hopfield::store: pattern {}", p));

  std::vector<double> w(static_cast<std::size_t>(n * n), 0.0);
  if (rule == HopfieldRule::kHebbian) {
    // Integer sums Σ_μ p_i p_j, divided once: the weights are then exactly k/N rounded once.
    std::vector<int32_t> sums(static_cast<std::size_t>(n * n), 0);
    for (const BipolarState& p : patterns) {
      for (int64_t i = 0; i < n; ++i) {
        int32_t* row = sums.data() + i * n;
        const int32_t pi = p[i];
        for (int64_t j = 0; j < n; ++j) row[j] += pi * p[j];
      }
    }
    for (std::size_t k = 0; k < w.size(); ++k) w[k] = sums[k] / static_cast<double>(n);
  } else {
    if (count > n) {
      throw ValueError(
          fmt::format("Hopfield::store (projection): {} patterns of {} neurons cannot be linearly "
                      "independent; store at most {} (or use the hebbian rule)",
                      count, n, n));
    }
    // W = X G⁻¹ Xᵀ with the Gram matrix G = XᵀX = L·Lᵀ (Cholesky), so W = YᵀY with Y = L⁻¹Xᵀ:
    // the rows of Y are the patterns made orthonormal (Gram-Schmidt), and W comes out
    // symmetric by construction. Written here rather than through a library because nnkit's
    // only linear algebra dependency, oneDNN, offers GEMM but no factorisation, and a P×P
    // Cholesky is a few lines; it is stable on a symmetric positive definite G, and its pivots
    // (each pattern's squared distance from the span of those before it) detect dependence.
    std::vector<double> gram(static_cast<std::size_t>(count * count));
    for (int64_t a = 0; a < count; ++a) {
      for (int64_t b = 0; b <= a; ++b) {
        int64_t dot = 0;
        for (int64_t i = 0; i < n; ++i) dot += patterns[a][i] * patterns[b][i];
        gram[a * count + b] = gram[b * count + a] = static_cast<double>(dot);
      }
    }
    std::vector<double> chol(static_cast<std::size_t>(count * count), 0.0);  // L, lower
    for (int64_t k = 0; k < count; ++k) {
      for (int64_t r = k; r < count; ++r) {
        double v = gram[r * count + k];
        for (int64_t j = 0; j < k; ++j) v -= chol[r * count + j] * chol[k * count + j];
        if (r == k) {
          if (v <= kDependenceTolerance * gram[k * count + k]) {
            throw ValueError(fmt::format(
                "Hopfield::store (projection): pattern {} is a linear combination of {}; the "
                "projection rule needs linearly independent patterns",
                k, k == 1 ? std::string("pattern 0") : fmt::format("patterns 0 to {}", k - 1)));
          }
          chol[k * count + k] = std::sqrt(v);
        } else {
          chol[r * count + k] = v / chol[k * count + k];
        }
      }
    }
    // Forward substitution, one whole row (pattern) at a time: Y_k = (x_k − Σ_j L_kj Y_j)/L_kk.
    std::vector<double> y(static_cast<std::size_t>(count * n));
    for (int64_t k = 0; k < count; ++k) {
      double* yk = y.data() + k * n;
      for (int64_t i = 0; i < n; ++i) yk[i] = patterns[k][i];
      for (int64_t j = 0; j < k; ++j) {
        const double l = chol[k * count + j];
        const double* yj = y.data() + j * n;
        for (int64_t i = 0; i < n; ++i) yk[i] -= l * yj[i];
      }
      const double inv = 1.0 / chol[k * count + k];
      for (int64_t i = 0; i < n; ++i) yk[i] *= inv;
    }
    for (int64_t k = 0; k < count; ++k) {
      const double* yk = y.data() + k * n;
      for (int64_t i = 0; i < n; ++i) {
        double* row = w.data() + i * n;
        const double yi = yk[i];
        for (int64_t j = i + 1; j < n; ++j) row[j] += yi * yk[j];
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = i + 1; j < n; ++j) w[j * n + i] = w[i * n + j];
    }
  }
  for (int64_t i = 0; i < n; ++i) w[i * n + i] = 0.0;
  weights_ = std::move(w);
  compute_tie_tolerance();
}

void Hopfield::set_weights(std::vector<double> weights) {
  const int64_t n = neurons_;
  if (static_cast<int64_t>(weights.size()) != n * n) {
    throw ValueError(fmt::format("Hopfield::set_weights: expected {}x{} = {} values, got {}", n, n,
                                 n * n, weights.size()));
  }
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const double v = weights[i * n + j];
      if (!std::isfinite(v))
        throw ValueError(fmt::format("Hopfield::set_weights: W[{}][{}] is not finite", i, j));
      if (i == j && v != 0)
        throw ValueError(
            fmt::format("Hopfield::set_weights: W[{}][{}] = {}; the diagonal must "
                        "be 0",
                        i, j, v));
      if (v != weights[j * n + i]) {
        throw ValueError(fmt::format(
            "Hopfield::set_weights: W[{}][{}] = {} but W[{}][{}] = {}; W must be symmetric", i, j,
            v, j, i, weights[j * n + i]));
      }
    }
  }
  weights_ = std::move(weights);
  compute_tie_tolerance();
}

double Hopfield::local_field(const BipolarState& state, int64_t i) const {
  check_state(state, "local_field");
  if (i < 0 || i >= neurons_) {
    throw ValueError(
        fmt::format("Hopfield::local_field: neuron {} is outside [0, {})", i, neurons_));
  }
  const double* row = weights_.data() + i * neurons_;
  double sum = 0;
  for (int64_t j = 0; j < neurons_; ++j) sum += row[j] * state[j];
  return sum;
}

double Hopfield::energy(const BipolarState& state) const {
  check_state(state, "energy");
  const std::vector<double> h = fields(weights_, state);
  double e = 0;
  for (int64_t i = 0; i < neurons_; ++i) e += state[i] * h[i];
  return -0.5 * e;
}

bool Hopfield::update_neuron(BipolarState& state, int64_t i) const {
  check_state(state, "update_neuron");
  if (i < 0 || i >= neurons_) {
    throw ValueError(
        fmt::format("Hopfield::update_neuron: neuron {} is outside [0, {})", i, neurons_));
  }
  const double* row = weights_.data() + i * neurons_;
  double h = 0;
  for (int64_t j = 0; j < neurons_; ++j) h += row[j] * state[j];
  const int s = field_sign(h, tie_tolerance_);
  if (s == 0 || s == state[i]) return false;
  state[i] = s;
  return true;
}

HopfieldRecallResult Hopfield::recall(BipolarState start, const HopfieldRecallOptions& options,
                                      Rng& rng) const {
  check_state(start, "recall");
  if (options.max_steps < 1) {
    throw ValueError(
        fmt::format("Hopfield::recall: max_steps must be >= 1, got {}", options.max_steps));
  }
  const int64_t n = neurons_;
  HopfieldRecallResult result;
  BipolarState& s = result.state;
  s = std::move(start);
  if (options.record_energy) result.energies.push_back(energy(s));

  // The fields are kept up to date as neurons flip (h += 2·s_j·W[:, j], W symmetric so the
  // column is row j): a step then costs O(N + flips·N) instead of O(N²).
  std::vector<double> h = fields(weights_, s);
  auto apply_flip = [&](int64_t j) {
    const double delta = 2.0 * s[j];
    const double* row = weights_.data() + j * n;
    for (int64_t k = 0; k < n; ++k) h[k] += delta * row[k];
  };

  if (options.update == HopfieldUpdate::kAsynchronous) {
    std::vector<int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    for (int64_t step = 0; step < options.max_steps; ++step) {
      for (int64_t k = n - 1; k > 0; --k) {  // Fisher-Yates, a fresh order every sweep
        std::swap(order[k], order[rng.below(static_cast<uint64_t>(k + 1))]);
      }
      int64_t flips = 0;
      for (int64_t i : order) {
        const int v = field_sign(h[i], tie_tolerance_);
        if (v == 0 || v == s[i]) continue;
        s[i] = v;
        apply_flip(i);
        ++flips;
      }
      if (options.record_energy) result.energies.push_back(energy(s));
      if (flips == 0) {
        result.converged = true;
        break;
      }
      ++result.steps;
    }
  } else {
    BipolarState before;  // the state one step back, for 2-cycles
    std::vector<int64_t> flipped;
    for (int64_t step = 0; step < options.max_steps; ++step) {
      flipped.clear();
      for (int64_t i = 0; i < n; ++i) {
        const int v = field_sign(h[i], tie_tolerance_);
        if (v != 0 && v != s[i]) flipped.push_back(i);
      }
      if (flipped.empty()) {
        if (options.record_energy) result.energies.push_back(energy(s));
        result.converged = true;
        break;
      }
      BipolarState previous = s;
      for (int64_t i : flipped) {  // every field was read before any neuron changes
        s[i] = -s[i];
        apply_flip(i);
      }
      if (options.record_energy) result.energies.push_back(energy(s));
      ++result.steps;
      if (s == before) {
        result.cycle = true;
        break;
      }
      before = std::move(previous);
    }
  }
  result.energy = energy(s);
  return result;
}

std::vector<BipolarState> bipolar_patterns(const Tensor& x, float threshold) {
  if (x.rank() < 1) throw ValueError("bipolar_patterns: expected a tensor [rows, ...]");
  const int64_t rows = x.dim(0);
  const int64_t width = rows == 0 ? 0 : x.size() / rows;
  std::vector<BipolarState> out(static_cast<std::size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    out[r].resize(static_cast<std::size_t>(width));
    for (int64_t i = 0; i < width; ++i) out[r][i] = x[r * width + i] > threshold ? 1 : -1;
  }
  return out;
}

std::vector<BipolarState> random_patterns(int64_t count, int64_t neurons, Rng& rng) {
  if (count < 0 || neurons < 1) {
    throw ValueError(fmt::format(
        "random_patterns: expected count >= 0 and neurons >= 1, got {} and {}", count, neurons));
  }
  std::vector<BipolarState> out(static_cast<std::size_t>(count));
  for (BipolarState& p : out) {
    p.resize(static_cast<std::size_t>(neurons));
    for (int& v : p) v = (rng.next_u64() >> 63) != 0 ? 1 : -1;
  }
  return out;
}

BipolarState flip_random_bits(BipolarState state, int64_t count, Rng& rng) {
  const int64_t n = static_cast<int64_t>(state.size());
  if (count < 0 || count > n) {
    throw ValueError(fmt::format(
        "flip_random_bits: count must be in [0, {}] (the state's size), got {}", n, count));
  }
  // A partial Fisher-Yates shuffle: its first `count` entries are distinct positions.
  std::vector<int64_t> positions(static_cast<std::size_t>(n));
  std::iota(positions.begin(), positions.end(), 0);
  for (int64_t k = 0; k < count; ++k) {
    const int64_t pick = k + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - k)));
    std::swap(positions[k], positions[pick]);
    state[positions[k]] = -state[positions[k]];
  }
  return state;
}

double overlap(const BipolarState& a, const BipolarState& b) {
  if (a.size() != b.size() || a.empty()) {
    throw ValueError(
        fmt::format("overlap: expected two states of the same nonzero length, got {} "
                    "and {}",
                    a.size(), b.size()));
  }
  int64_t dot = 0;
  for (std::size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i];
  return static_cast<double>(dot) / static_cast<double>(a.size());
}

RecallScore score_recall(const Hopfield& net, const std::vector<BipolarState>& patterns,
                         double noise, const HopfieldRecallOptions& options, Rng& rng) {
  if (!(noise >= 0 && noise <= 1))
    throw ValueError(fmt::format("score_recall: noise must be in [0, 1], got {}", noise));
  if (patterns.empty()) throw ValueError("score_recall: no patterns");
  const int64_t n = net.neurons();
  const auto flips = static_cast<int64_t>(std::llround(noise * static_cast<double>(n)));
  RecallScore score;
  for (std::size_t p = 0; p < patterns.size(); ++p) {
    check_bipolar(patterns[p], n, fmt::format("score_recall: pattern {}", p));
    HopfieldRecallResult r = net.recall(flip_random_bits(patterns[p], flips, rng), options, rng);
    ++score.probes;
    score.exact += r.state == patterns[p] ? 1 : 0;
    score.mean_overlap += overlap(r.state, patterns[p]);
    score.converged += r.converged ? 1 : 0;
    score.mean_steps += static_cast<double>(r.steps);
  }
  const double probes = static_cast<double>(score.probes);
  score.exact /= probes;
  score.mean_overlap /= probes;
  score.converged /= probes;
  score.mean_steps /= probes;
  return score;
}

}  // namespace nnkit
