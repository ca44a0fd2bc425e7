// Hopfield network: an associative memory of bipolar (±1) patterns. Every neuron is connected
// to every other by symmetric weights W (zero diagonal); a state s evolves by
// s_i ← sign(h_i), h_i = Σ_j W_ij s_j, and the energy E(s) = −½ sᵀWs never rises under
// one-neuron-at-a-time (asynchronous) updates, so that recall settles in a state of low energy:
// ideally the stored pattern nearest the probe.
//
// Conventions, fixed here for every function below:
// - sign(0): a neuron whose field is zero keeps its state. A field counts as zero when
//   |h_i| ≤ 1e-9·max_k Σ_j |W_kj|: far above the rounding error of the weights and of the sums
//   (double precision), far below any real field. So a tie is a tie whatever order the sum was
//   taken in, every flip lowers the energy by 2|h_i| > 0, and asynchronous recall always stops.
// - No thresholds (θ = 0): the energy has no linear term.
// - Storage replaces the weights; it does not add to them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

// A state or a pattern: N values, each +1 or −1.
using BipolarState = std::vector<int>;

enum class HopfieldRule {
  // W = (1/N) Σ_μ p^μ p^μᵀ, diagonal set to 0. About 0.138·N random patterns at most.
  kHebbian,
  // W = X (XᵀX)⁻¹ Xᵀ, X = [p^1 … p^P] (N×P): the orthogonal projection onto the patterns' span,
  // so W p^μ = p^μ. Any linearly independent patterns (so P <= N), correlated ones too. The
  // diagonal is set to 0, the usual convention since Kanter and Sompolinsky (1987): the self-
  // coupling W_ii ≈ P/N only holds each neuron in its current state, which shrinks the basins
  // of attraction as P/N grows. Each stored pattern stays a fixed point without it, because
  // its field becomes (1 − W_ii)·p_i and W_ii < 1 unless the unit vector e_i lies in the span
  // (then h_i = 0 and neuron i keeps its state).
  kProjection,
};

// "hebbian" or "projection"; anything else throws ValueError naming both.
HopfieldRule parse_hopfield_rule(const std::string& name);
std::string hopfield_rule_name(HopfieldRule rule);

enum class HopfieldUpdate {
  // A step is a sweep: every neuron once, one at a time, in a random order drawn afresh for
  // each sweep, each seeing the neurons updated before it. The energy never rises.
  kAsynchronous,
  // A step updates every neuron at once from the same state. It may end in a 2-cycle.
  kSynchronous,
};

// "async" or "sync"; anything else throws ValueError naming both.
HopfieldUpdate parse_hopfield_update(const std::string& name);
std::string hopfield_update_name(HopfieldUpdate update);

struct HopfieldRecallOptions {
  HopfieldUpdate update = HopfieldUpdate::kAsynchronous;
  int64_t max_steps = 100;  // steps (sweeps, for asynchronous updates) run at most; >= 1
  // Record the energy of the start and after every step (computed afresh, O(N²) a step).
  bool record_energy = false;
};

struct HopfieldRecallResult {
  BipolarState state;            // where recall stopped
  int64_t steps = 0;             // steps that changed the state
  bool converged = false;        // the last step run changed nothing: `state` is a fixed point
  bool cycle = false;            // synchronous only: the state returned to the one two steps back
  double energy = 0;             // E(state)
  std::vector<double> energies;  // with record_energy: E before the first step, after each step
};

class Hopfield {
 public:
  // A network of `neurons` >= 1 with all weights 0 (every state is then a fixed point).
  explicit Hopfield(int64_t neurons);

  int64_t neurons() const { return neurons_; }

  // Replaces the weights with those that store `patterns` (P >= 1, each of N values ±1) by
  // `rule`. Throws ValueError for no pattern, a pattern of the wrong length or a value other
  // than ±1 (naming the pattern and position), and, for kProjection, patterns that are not
  // linearly independent (naming the first that depends on those before it; P > N always is).
  void store(const std::vector<BipolarState>& patterns, HopfieldRule rule);

  // W, N×N row-major, symmetric with zero diagonal. Double precision so that ties (h_i = 0)
  // stay recognisable after summing N weights (see the sign(0) convention above).
  const std::vector<double>& weights() const { return weights_; }
  double weight(int64_t i, int64_t j) const { return weights_[i * neurons_ + j]; }
  // Sets W directly: N·N finite values, symmetric, zero diagonal; else ValueError naming the
  // first offending entry.
  void set_weights(std::vector<double> weights);

  // h_i = Σ_j W_ij s_j. E(s) = −½ Σ_ij W_ij s_i s_j. Both check `state` (ValueError).
  double local_field(const BipolarState& state, int64_t i) const;
  double energy(const BipolarState& state) const;

  // One neuron: s_i ← sign(h_i), keeping s_i when h_i counts as zero; true if it flipped.
  // Throws ValueError for a bad state or i outside [0, N).
  bool update_neuron(BipolarState& state, int64_t i) const;

  // Runs steps from `start` until a step changes nothing (converged), a synchronous 2-cycle,
  // or options.max_steps steps. `rng` orders the asynchronous sweeps (unused when
  // synchronous). Throws ValueError for a bad start state or max_steps < 1.
  HopfieldRecallResult recall(BipolarState start, const HopfieldRecallOptions& options,
                              Rng& rng) const;

 private:
  void check_state(const BipolarState& state, const char* who) const;
  // The largest |h_i| taken for zero (the sign(0) convention).
  void compute_tie_tolerance();

  int64_t neurons_;
  std::vector<double> weights_;  // N×N
  double tie_tolerance_ = 0;
};

// Rows of `x` ([rows, ...], each row flattened) as bipolar patterns: +1 where a value is
// > threshold, −1 elsewhere (for images scaled to [0, 1], threshold 0.5).
std::vector<BipolarState> bipolar_patterns(const Tensor& x, float threshold);

// `count` patterns of `neurons` values, each +1 or −1 with probability ½, independently.
std::vector<BipolarState> random_patterns(int64_t count, int64_t neurons, Rng& rng);

// `state` with exactly `count` distinct neurons, chosen by `rng`, flipped. Throws ValueError
// unless 0 <= count <= N.
BipolarState flip_random_bits(BipolarState state, int64_t count, Rng& rng);

// The overlap m = (1/N) Σ_i a_i b_i, in [−1, 1]; 1 when a = b. Throws ValueError for lengths
// that differ or are 0.
double overlap(const BipolarState& a, const BipolarState& b);

// How well a network recalls its patterns from noisy probes: each pattern once, from a copy
// with round(noise·N) distinct bits flipped.
struct RecallScore {
  int64_t probes = 0;
  double exact = 0;         // fraction of probes that ended exactly on their pattern
  double mean_overlap = 0;  // mean overlap of the end state with the pattern
  double converged = 0;     // fraction that reached a fixed point within max_steps
  double mean_steps = 0;    // mean steps that changed the state
};
// `net` should hold `patterns` (any network works: the score says how well it recalls them).
// Throws ValueError for noise outside [0, 1], no patterns or patterns of the wrong length.
RecallScore score_recall(const Hopfield& net, const std::vector<BipolarState>& patterns,
                         double noise, const HopfieldRecallOptions& options, Rng& rng);

}  // namespace nnkit
