#include "nnkit/models/hopfield.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "nnkit/error.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;

void expect_weights(const Hopfield& net, const std::vector<double>& want, double tolerance) {
  ASSERT_EQ(net.weights().size(), want.size());
  const int64_t n = net.neurons();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j)
      EXPECT_NEAR(net.weight(i, j), want[i * n + j], tolerance) << "W[" << i << "][" << j << "]";
  }
}

// Rows of the 8×8 Sylvester-Hadamard matrix: ±1 and mutually orthogonal.
std::vector<BipolarState> hadamard_rows(int count) {
  std::vector<BipolarState> rows;
  for (int r = 0; r < count; ++r) {
    BipolarState row(8);
    for (int c = 0; c < 8; ++c) row[c] = __builtin_popcount(r & c) % 2 == 0 ? 1 : -1;
    rows.push_back(row);
  }
  return rows;
}

// --- Hand-worked small networks ---------------------------------------------------------------

TEST(Hopfield, HebbianWeightsOfOnePatternByHand) {
  // p = (1, −1, 1): W = (1/3)·p·pᵀ with the diagonal zeroed.
  Hopfield net(3);
  net.store({{1, -1, 1}}, HopfieldRule::kHebbian);
  const double t = 1.0 / 3;
  expect_weights(net, {0, -t, t, -t, 0, -t, t, -t, 0}, 1e-15);
}

TEST(Hopfield, HebbianWeightsOfTwoPatternsByHand) {
  // (1,1,1) and (1,−1,−1): W01 = (1 − 1)/3 = 0, W02 = 0, W12 = (1 + 1)/3.
  Hopfield net(3);
  net.store({{1, 1, 1}, {1, -1, -1}}, HopfieldRule::kHebbian);
  const double t = 2.0 / 3;
  expect_weights(net, {0, 0, 0, 0, 0, t, 0, t, 0}, 1e-15);
}

TEST(Hopfield, EnergyAndFieldsByHand) {
  Hopfield net(3);
  net.store({{1, -1, 1}}, HopfieldRule::kHebbian);
  // E(p) = −½·Σ_{i≠j} (1/3)·(p_i p_j)² = −½·6/3 = −1.
  EXPECT_NEAR(net.energy({1, -1, 1}), -1.0, 1e-15);
  EXPECT_NEAR(net.energy({-1, 1, -1}), -1.0, 1e-15);
  // E(1,1,1) = −½·2·(W01 + W02 + W12) = −(−1/3 + 1/3 − 1/3) = 1/3.
  EXPECT_NEAR(net.energy({1, 1, 1}), 1.0 / 3, 1e-15);
  // h = W·(1,1,1) = (0, −2/3, 0).
  EXPECT_EQ(net.local_field({1, 1, 1}, 0), 0.0);
  EXPECT_NEAR(net.local_field({1, 1, 1}, 1), -2.0 / 3, 1e-15);
  EXPECT_EQ(net.local_field({1, 1, 1}, 2), 0.0);
}

TEST(Hopfield, OneSynchronousStepByHandKeepsTiedNeurons) {
  // From (1,1,1) the fields are (0, −2/3, 0): neurons 0 and 2 are tied and keep +1, neuron 1
  // turns to −1, which is the stored pattern.
  Hopfield net(3);
  net.store({{1, -1, 1}}, HopfieldRule::kHebbian);
  Rng rng(1);
  HopfieldRecallResult one =
      net.recall({1, 1, 1}, {.update = HopfieldUpdate::kSynchronous, .max_steps = 1}, rng);
  EXPECT_EQ(one.state, (BipolarState{1, -1, 1}));
  EXPECT_EQ(one.steps, 1);
  EXPECT_FALSE(one.converged);  // the one step allowed changed the state: not yet checked stable
  EXPECT_NEAR(one.energy, -1.0, 1e-15);

  HopfieldRecallResult full =
      net.recall({1, 1, 1}, {.update = HopfieldUpdate::kSynchronous, .record_energy = true}, rng);
  EXPECT_EQ(full.state, (BipolarState{1, -1, 1}));
  EXPECT_EQ(full.steps, 1);
  EXPECT_TRUE(full.converged);
  ASSERT_EQ(full.energies.size(), 3u);  // start, the step, the step that changed nothing
  EXPECT_NEAR(full.energies[0], 1.0 / 3, 1e-15);
  EXPECT_NEAR(full.energies[1], -1.0, 1e-15);
  EXPECT_NEAR(full.energies[2], -1.0, 1e-15);
}

TEST(Hopfield, TiedNeuronKeepsItsStateEitherWay) {
  Hopfield net(3);
  net.store({{1, -1, 1}}, HopfieldRule::kHebbian);
  // Neuron 0 of (±1, 1, 1) sees W01 + W02 = 0.
  for (int s0 : {1, -1}) {
    BipolarState state{s0, 1, 1};
    EXPECT_FALSE(net.update_neuron(state, 0));
    EXPECT_EQ(state[0], s0);
  }
  BipolarState state{1, 1, 1};
  EXPECT_TRUE(net.update_neuron(state, 1));  // h = −2/3
  EXPECT_EQ(state, (BipolarState{1, -1, 1}));
}

TEST(Hopfield, ProjectionWeightsByHand) {
  // (1,1,1) and (1,−1,1) span {(1,0,1), (0,1,0)}; the projection onto it is
  // [[½,0,½],[0,1,0],[½,0,½]], and zeroing its diagonal leaves W02 = W20 = ½.
  Hopfield net(3);
  net.store({{1, 1, 1}, {1, -1, 1}}, HopfieldRule::kProjection);
  expect_weights(net, {0, 0, 0.5, 0, 0, 0, 0.5, 0, 0}, 1e-12);
  // Both patterns are fixed points: neuron 1 (e_1 lies in the span) sees a zero field and keeps
  // its state, the others see ½·p_i.
  Rng rng(1);
  for (const BipolarState& p : {BipolarState{1, 1, 1}, BipolarState{1, -1, 1}}) {
    HopfieldRecallResult r = net.recall(p, {}, rng);
    EXPECT_TRUE(r.converged);
    EXPECT_EQ(r.steps, 0);
    EXPECT_EQ(r.state, p);
  }
}

TEST(Hopfield, OrthogonalPatternsAreExactFixedPointsAndBothRulesAgree) {
  // For orthogonal patterns (XᵀX = N·I) the projection is (1/N)·X·Xᵀ, which is the Hebbian
  // matrix before its diagonal (P/N) is zeroed; after, W·p = (1 − P/N)·p.
  const std::vector<BipolarState> patterns = hadamard_rows(3);
  Hopfield hebb(8), proj(8);
  hebb.store(patterns, HopfieldRule::kHebbian);
  proj.store(patterns, HopfieldRule::kProjection);
  for (std::size_t k = 0; k < hebb.weights().size(); ++k)
    EXPECT_NEAR(proj.weights()[k], hebb.weights()[k], 1e-12) << k;
  for (const BipolarState& p : patterns) {
    for (int i = 0; i < 8; ++i) EXPECT_NEAR(hebb.local_field(p, i), (1 - 3.0 / 8) * p[i], 1e-15);
  }
}

TEST(Hopfield, SynchronousUpdatesCanCycleAsynchronousOnesSettle) {
  // Two neurons coupled by W01 = 1 from (1, −1): each copies the other at once, (−1, 1), then
  // back. One at a time, the first updated copies the other and both agree.
  Hopfield net(2);
  net.set_weights({0, 1, 1, 0});
  Rng rng(3);
  HopfieldRecallResult sync =
      net.recall({1, -1}, {.update = HopfieldUpdate::kSynchronous, .max_steps = 50}, rng);
  EXPECT_TRUE(sync.cycle);
  EXPECT_FALSE(sync.converged);
  EXPECT_EQ(sync.steps, 2);
  EXPECT_EQ(sync.state, (BipolarState{1, -1}));

  HopfieldRecallResult async = net.recall({1, -1}, {.record_energy = true}, rng);
  EXPECT_TRUE(async.converged);
  EXPECT_FALSE(async.cycle);
  EXPECT_EQ(async.steps, 1);
  EXPECT_EQ(async.state[0], async.state[1]);
  EXPECT_EQ(async.energy, -1.0);  // −½·(1 + 1)
  EXPECT_EQ(async.energies, (std::vector<double>{1.0, -1.0, -1.0}));
}

TEST(Hopfield, StepLimitStopsSynchronousCycleDetectionNeedsTwoSteps) {
  Hopfield net(2);
  net.set_weights({0, 1, 1, 0});
  Rng rng(3);
  HopfieldRecallResult r =
      net.recall({1, -1}, {.update = HopfieldUpdate::kSynchronous, .max_steps = 1}, rng);
  EXPECT_FALSE(r.converged);
  EXPECT_FALSE(r.cycle);
  EXPECT_EQ(r.steps, 1);
  EXPECT_EQ(r.state, (BipolarState{-1, 1}));
}

TEST(Hopfield, ZeroWeightsMakeEveryStateAFixedPoint) {
  Hopfield net(4);
  Rng rng(1);
  HopfieldRecallResult r = net.recall({1, -1, -1, 1}, {}, rng);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.steps, 0);
  EXPECT_EQ(r.energy, 0.0);
}

// --- Properties on random patterns ------------------------------------------------------------

TEST(Hopfield, EnergyNeverRisesInAsynchronousRecall) {
  // Random symmetric weights, and networks storing random patterns by both rules, far above
  // capacity too. Each single flip must lower E by exactly 2|h_i| (zero diagonal); each sweep of
  // recall() must not raise it; recall must end at a fixed point.
  Rng rng(2024);
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t n = 5 + static_cast<int64_t>(rng.below(56));
    Hopfield net(n);
    if (trial % 3 == 0) {
      std::vector<double> w(static_cast<std::size_t>(n * n), 0.0);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = i + 1; j < n; ++j) w[i * n + j] = w[j * n + i] = rng.normal();
      }
      net.set_weights(w);
    } else {
      const int64_t count = 1 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n / 2)));
      const HopfieldRule rule = trial % 3 == 1 ? HopfieldRule::kHebbian : HopfieldRule::kProjection;
      std::vector<BipolarState> patterns = random_patterns(count, n, rng);
      try {
        net.store(patterns, rule);
      } catch (const ValueError&) {
        net.store(patterns, HopfieldRule::kHebbian);  // dependent random patterns (small n)
      }
    }
    BipolarState s = random_patterns(1, n, rng)[0];
    double e = net.energy(s);
    for (int sweep = 0; sweep < 5; ++sweep) {
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(n)));
        const double h = net.local_field(s, i);
        const bool flipped = net.update_neuron(s, i);
        const double e_after = net.energy(s);
        EXPECT_LE(e_after, e + 1e-12) << "trial " << trial << ", neuron " << i;
        if (flipped) {
          EXPECT_NEAR(e_after - e, -2 * std::abs(h), 1e-9) << "trial " << trial;
        }
        e = e_after;
      }
    }
    HopfieldRecallResult r =
        net.recall(random_patterns(1, n, rng)[0], {.record_energy = true}, rng);
    EXPECT_TRUE(r.converged) << "trial " << trial;
    for (std::size_t k = 1; k < r.energies.size(); ++k)
      EXPECT_LE(r.energies[k], r.energies[k - 1] + 1e-12) << "trial " << trial << ", step " << k;
    EXPECT_NEAR(r.energies.back(), net.energy(r.state), 1e-12);
    for (int64_t i = 0; i < n; ++i) {
      BipolarState copy = r.state;
      EXPECT_FALSE(net.update_neuron(copy, i)) << "trial " << trial << ": not a fixed point";
    }
  }
}

TEST(Hopfield, HebbianStoredPatternsAreFixedPointsBelowCapacity) {
  // N = 200, P = 10 = 0.05·N: the crosstalk on a bit has standard deviation √(P/N) ≈ 0.22
  // against a signal of 1.
  Rng rng(7);
  const std::vector<BipolarState> patterns = random_patterns(10, 200, rng);
  Hopfield net(200);
  net.store(patterns, HopfieldRule::kHebbian);
  for (const BipolarState& p : patterns) {
    for (HopfieldUpdate update : {HopfieldUpdate::kAsynchronous, HopfieldUpdate::kSynchronous}) {
      HopfieldRecallResult r = net.recall(p, {.update = update}, rng);
      EXPECT_TRUE(r.converged);
      EXPECT_EQ(r.steps, 0);
      EXPECT_EQ(r.state, p);
    }
  }
}

TEST(Hopfield, ProjectionFixesIndependentPatternsFarAboveHebbianCapacity) {
  // N = 100, P = 60 = 0.6·N. The fields of W = Π − diag(Π) are h = (1 − Π_ii)·p_i for every
  // pattern: per neuron one ratio h_i/p_i in [0, 1], common to all patterns, and
  // Σ_i Π_ii = trace Π = P (the rank of the projection).
  Rng rng(11);
  const int64_t n = 100, count = 60;
  const std::vector<BipolarState> patterns = random_patterns(count, n, rng);
  Hopfield net(n);
  net.store(patterns, HopfieldRule::kProjection);
  double trace = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double ratio = net.local_field(patterns[0], i) / patterns[0][i];
    EXPECT_GT(ratio, 0.0);
    EXPECT_LE(ratio, 1.0);
    for (const BipolarState& p : patterns)
      EXPECT_NEAR(net.local_field(p, i) / p[i], ratio, 1e-9) << "neuron " << i;
    trace += 1 - ratio;
  }
  EXPECT_NEAR(trace, static_cast<double>(count), 1e-9);
  for (const BipolarState& p : patterns) {
    HopfieldRecallResult r = net.recall(p, {.update = HopfieldUpdate::kSynchronous}, rng);
    EXPECT_TRUE(r.converged);
    EXPECT_EQ(r.steps, 0);
  }
  // The Hebbian rule does not hold them: at 0.6·N most patterns have unstable bits.
  Hopfield hebb(n);
  hebb.store(patterns, HopfieldRule::kHebbian);
  int fixed = 0;
  for (const BipolarState& p : patterns) {
    fixed += hebb.recall(p, {.update = HopfieldUpdate::kSynchronous}, rng).steps == 0 ? 1 : 0;
  }
  EXPECT_LT(fixed, count / 2);
}

TEST(Hopfield, RecallsFivePercentOfNPatternsFromTenPercentNoise) {
  // N = 200, P = 10, 20 bits flipped in each probe; several draws of patterns and noise, both
  // rules, both update modes: every probe must end exactly on its pattern.
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    Rng rng(seed);
    const std::vector<BipolarState> patterns = random_patterns(10, 200, rng);
    for (HopfieldRule rule : {HopfieldRule::kHebbian, HopfieldRule::kProjection}) {
      Hopfield net(200);
      net.store(patterns, rule);
      for (HopfieldUpdate update : {HopfieldUpdate::kAsynchronous, HopfieldUpdate::kSynchronous}) {
        RecallScore score = score_recall(net, patterns, 0.1, {.update = update}, rng);
        EXPECT_EQ(score.probes, 10);
        EXPECT_EQ(score.exact, 1.0) << "seed " << seed << ", " << hopfield_rule_name(rule) << ", "
                                    << hopfield_update_name(update);
        EXPECT_EQ(score.mean_overlap, 1.0);
        EXPECT_EQ(score.converged, 1.0);
        EXPECT_GE(score.mean_steps, 1.0);  // 20 wrong bits take at least one step to correct
      }
    }
  }
}

TEST(Hopfield, HebbianRecallDegradesAboveCapacity) {
  // N = 200, P = 60 = 0.3·N, more than twice 0.138·N: recall from 10% noise mostly fails.
  Rng rng(5);
  const std::vector<BipolarState> patterns = random_patterns(60, 200, rng);
  Hopfield net(200);
  net.store(patterns, HopfieldRule::kHebbian);
  RecallScore score = score_recall(net, patterns, 0.1, {}, rng);
  EXPECT_LT(score.exact, 0.2);
  EXPECT_LT(score.mean_overlap, 0.9);
}

TEST(Hopfield, AsynchronousRecallIsSeeded) {
  Rng data(9);
  const std::vector<BipolarState> patterns = random_patterns(40, 100, data);
  Hopfield net(100);
  net.store(patterns, HopfieldRule::kHebbian);
  const BipolarState probe = random_patterns(1, 100, data)[0];
  Rng a(5), b(5);
  HopfieldRecallResult ra = net.recall(probe, {}, a), rb = net.recall(probe, {}, b);
  EXPECT_EQ(ra.state, rb.state);
  EXPECT_EQ(ra.steps, rb.steps);
}

// --- Helpers ----------------------------------------------------------------------------------

TEST(Hopfield, FlipRandomBitsFlipsExactlyThatManyDistinctBits) {
  Rng rng(1);
  const BipolarState p = random_patterns(1, 50, rng)[0];
  for (int64_t count : {0, 1, 5, 25, 50}) {
    const BipolarState q = flip_random_bits(p, count, rng);
    int64_t differ = 0;
    for (int i = 0; i < 50; ++i) differ += p[i] != q[i] ? 1 : 0;
    EXPECT_EQ(differ, count);
    EXPECT_DOUBLE_EQ(overlap(p, q), 1.0 - 2.0 * count / 50);
  }
}

TEST(Hopfield, BipolarPatternsThresholdEachRow) {
  const Tensor x({2, 1, 2, 2}, {0.0f, 0.5f, 0.51f, 1.0f, 0.9f, 0.2f, 0.6f, 0.5f});
  const std::vector<BipolarState> p = bipolar_patterns(x, 0.5f);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], (BipolarState{-1, -1, 1, 1}));
  EXPECT_EQ(p[1], (BipolarState{1, -1, 1, -1}));
}

TEST(Hopfield, RandomPatternsAreBalanced) {
  Rng rng(3);
  int64_t plus = 0;
  for (const BipolarState& p : random_patterns(20, 500, rng)) {
    for (int v : p) plus += v == 1 ? 1 : 0;
  }
  EXPECT_NEAR(plus / 10000.0, 0.5, 0.02);  // 4 standard deviations of a fair coin
}

TEST(Hopfield, HebbianAcceptsRepeatedPatterns) {
  Hopfield net(3);
  net.store({{1, -1, 1}, {1, -1, 1}}, HopfieldRule::kHebbian);
  EXPECT_NEAR(net.weight(0, 1), -2.0 / 3, 1e-15);
}

TEST(Hopfield, NamesParseBothWays) {
  EXPECT_EQ(parse_hopfield_rule("hebbian"), HopfieldRule::kHebbian);
  EXPECT_EQ(parse_hopfield_rule("projection"), HopfieldRule::kProjection);
  EXPECT_EQ(hopfield_rule_name(HopfieldRule::kProjection), "projection");
  EXPECT_EQ(parse_hopfield_update("async"), HopfieldUpdate::kAsynchronous);
  EXPECT_EQ(parse_hopfield_update("sync"), HopfieldUpdate::kSynchronous);
  EXPECT_EQ(hopfield_update_name(HopfieldUpdate::kSynchronous), "sync");
}

// --- Errors -----------------------------------------------------------------------------------

TEST(Hopfield, RejectsBadArgumentsWithOneClearMessage) {
  expect_throw_containing<ValueError>([] { Hopfield(0); }, "neurons must be >= 1, got 0");
  Hopfield net(3);
  expect_throw_containing<ValueError>([&] { net.store({}, HopfieldRule::kHebbian); },
                                      "no patterns");
  expect_throw_containing<ValueError>(
      [&] {
        net.store({{1, 1, 1}, {1, 1}}, HopfieldRule::kHebbian);
      },
      "pattern 1: expected 3 values (one per neuron), got 2");
  expect_throw_containing<ValueError>(
      [&] {
        net.store({{1, 0, 1}}, HopfieldRule::kProjection);
      },
      "pattern 0: value 0 at position 1 is not bipolar");
  expect_throw_containing<ValueError>(
      [&] {
        net.store({{1, 1, -1}, {-1, -1, 1}}, HopfieldRule::kProjection);
      },
      "pattern 1 is a linear combination of pattern 0;");
  expect_throw_containing<ValueError>(
      [&] {
        net.store({{1, 1, 1}, {1, -1, 1}, {1, 1, 1}}, HopfieldRule::kProjection);
      },
      "pattern 2 is a linear combination of patterns 0 to 1;");
  expect_throw_containing<ValueError>(
      [&] {
        net.store({{1, 1, 1}, {1, -1, 1}, {1, 1, -1}, {-1, 1, 1}}, HopfieldRule::kProjection);
      },
      "4 patterns of 3 neurons cannot be linearly independent");
  expect_throw_containing<ValueError>(
      [&] {
        net.set_weights({0, 1, 1, 0});
      },
      "expected 3x3 = 9 values, got 4");
  expect_throw_containing<ValueError>(
      [&] {
        net.set_weights({0, 1, 0, 2, 0, 0, 0, 0, 0});
      },
      "W[0][1] = 1 but W[1][0] = 2; W must be symmetric");
  expect_throw_containing<ValueError>(
      [&] {
        net.set_weights({0, 0, 0, 0, 1, 0, 0, 0, 0});
      },
      "W[1][1] = 1; the diagonal must be 0");
  expect_throw_containing<ValueError>(
      [&] {
        net.set_weights({0, 0, NAN, 0, 0, 0, NAN, 0, 0});
      },
      "W[0][2] is not finite");
  Rng rng(1);
  expect_throw_containing<ValueError>(
      [&] {
        net.recall({1, 1, 1}, {.max_steps = 0}, rng);
      },
      "max_steps must be >= 1, got 0");
  expect_throw_containing<ValueError>(
      [&] {
        net.recall({1, 2, 1}, {}, rng);
      },
      "Hopfield::recall: state: value 2 at position 1");
  expect_throw_containing<ValueError>(
      [&] {
        (void)net.energy({1, 1});
      },
      "Hopfield::energy: state: expected 3 values");
  BipolarState s{1, 1, 1};
  expect_throw_containing<ValueError>([&] { net.update_neuron(s, 3); },
                                      "neuron 3 is outside [0, 3)");
  expect_throw_containing<ValueError>([&] { (void)net.local_field(s, -1); },
                                      "neuron -1 is outside [0, 3)");
  expect_throw_containing<ValueError>([] { parse_hopfield_rule("hebb"); },
                                      "'hebb': expected hebbian or projection");
  expect_throw_containing<ValueError>([] { parse_hopfield_update("parallel"); },
                                      "'parallel': expected async or sync");
  expect_throw_containing<ValueError>([&] { flip_random_bits(s, 4, rng); },
                                      "count must be in [0, 3]");
  expect_throw_containing<ValueError>([] { overlap({1, 1}, {1}); }, "got 2 and 1");
  expect_throw_containing<ValueError>([] { overlap({}, {}); }, "nonzero length");
  expect_throw_containing<ValueError>(
      [&] {
        score_recall(net, {{1, 1, 1}}, 1.5, {}, rng);
      },
      "noise must be in [0, 1], got 1.5");
  expect_throw_containing<ValueError>([&] { score_recall(net, {}, 0.1, {}, rng); }, "no patterns");
  expect_throw_containing<ValueError>(
      [&] {
        score_recall(net, {{1, 1}}, 0.1, {}, rng);
      },
      "score_recall: pattern 0: expected 3 values");
  expect_throw_containing<ValueError>([&] { random_patterns(-1, 3, rng); },
                                      "expected count >= 0 and neurons >= 1");
}

}  // namespace
}  // namespace nnkit
