#include "nnkit/models/perceptron.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "nnkit/error.h"
#include "nnkit/random.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;

const Tensor kGateInputs({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});

TEST(Perceptron, LearnsAndStepByStepAsWorkedByHand) {
  // AND in data order from w = 0, b = 0, η = 1 (z > 0 fires):
  //   epoch 1: only (1,1) is wrong (z = 0)             -> w (1,1),  b 1
  //   epoch 2: (0,0) and (0,1) fire wrongly, (1,1) not -> w (2,1),  b 0   [3 errors]
  //   epoch 3: (0,1), (1,0) fire wrongly, (1,1) not    -> w (2,1),  b −1  [3 errors]
  //   epoch 4: (1,0) fires wrongly, (1,1) does not     -> w (2,2),  b −1  [2 errors]
  //   epoch 5: (0,1) fires wrongly                     -> w (2,1),  b −2  [1 error]
  //   epoch 6: none wrong.
  Perceptron p({.inputs = 2, .learning_rate = 1.0f, .max_epochs = 100});
  PerceptronResult r = p.train(kGateInputs, Tensor({4}, {0, 0, 0, 1}));
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.epochs, 6);
  EXPECT_EQ(r.errors_per_epoch, (std::vector<int64_t>{1, 3, 3, 2, 1, 0}));
  EXPECT_EQ(p.weights()[0], 2.0f);
  EXPECT_EQ(p.weights()[1], 1.0f);
  EXPECT_EQ(p.bias(), -2.0f);
  const Tensor y = p.predict(kGateInputs);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 0, 0, 1}));
}

TEST(Perceptron, FirstEpochAloneAndTheLearningRateScalesTheWeights) {
  // From zero weights every z scales with η, so the decisions and error counts are the same
  // and the weights are η times those above; one epoch: w (η, η), b η.
  Perceptron one({.inputs = 2, .learning_rate = 0.5f, .max_epochs = 1});
  PerceptronResult r = one.train(kGateInputs, Tensor({4, 1}, {0, 0, 0, 1}));
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.epochs, 1);
  EXPECT_EQ(r.errors_per_epoch, (std::vector<int64_t>{1}));
  EXPECT_EQ(one.weights()[0], 0.5f);
  EXPECT_EQ(one.weights()[1], 0.5f);
  EXPECT_EQ(one.bias(), 0.5f);
  // Training continues from the current weights: the remaining five epochs of the hand run.
  PerceptronResult rest = one.train(kGateInputs, Tensor({4, 1}, {0, 0, 0, 1}));
  EXPECT_FALSE(rest.converged);  // max_epochs = 1 again: epoch 2 had 3 errors
  EXPECT_EQ(rest.errors_per_epoch, (std::vector<int64_t>{3}));
  EXPECT_EQ(one.weights()[0], 1.0f);
  EXPECT_EQ(one.weights()[1], 0.5f);
  EXPECT_EQ(one.bias(), 0.0f);
}

TEST(Perceptron, StepFiresOnlyAboveZero) {
  Perceptron p({.inputs = 2});
  p.weights() = Tensor({2}, {1, -1});
  p.bias() = 0;
  EXPECT_EQ(p.predict(Tensor({3, 2}, {1, 1, 2, 1, 1, 2})).to_vector(),
            (std::vector<float>{0, 1, 0}));
}

TEST(Perceptron, ConvergesOnALinearlySeparableSet) {
  // 300 points in [−1, 1]³ labelled by the plane x + 2y − z = 0.2, those within 0.05 of it
  // dropped (a margin, so the number of updates is bounded), visited in shuffled order.
  Rng rng(17);
  std::vector<float> xs, ts;
  while (ts.size() < 300) {
    const float a = rng.uniform(-1, 1), b = rng.uniform(-1, 1), c = rng.uniform(-1, 1);
    const float z = a + 2 * b - c - 0.2f;
    if (std::abs(z) < 0.05f) continue;
    xs.insert(xs.end(), {a, b, c});
    ts.push_back(z > 0 ? 1.0f : 0.0f);
  }
  const Tensor x({300, 3}, xs), t({300}, ts);
  Perceptron p({.inputs = 3, .learning_rate = 0.1f, .max_epochs = 1000, .shuffle = true});
  PerceptronResult r = p.train(x, t);
  EXPECT_TRUE(r.converged) << r.epochs << " epochs";
  EXPECT_EQ(r.errors_per_epoch.back(), 0);
  EXPECT_GT(r.errors_per_epoch.front(), 0);
  EXPECT_EQ(p.predict(x).to_vector(), ts);
}

TEST(Perceptron, NeverLearnsXor) {
  // No line separates XOR: every epoch, in either order, misclassifies at least one sample.
  for (bool shuffle : {false, true}) {
    Perceptron p({.inputs = 2, .max_epochs = 500, .shuffle = shuffle});
    PerceptronResult r = p.train(kGateInputs, Tensor({4}, {0, 1, 1, 0}));
    EXPECT_FALSE(r.converged);
    EXPECT_EQ(r.epochs, 500);
    ASSERT_EQ(r.errors_per_epoch.size(), 500u);
    for (int64_t e : r.errors_per_epoch) EXPECT_GE(e, 1);
    const Tensor y = p.predict(kGateInputs);
    int right = 0;
    for (int i = 0; i < 4; ++i) right += y[i] == (i == 1 || i == 2 ? 1.0f : 0.0f) ? 1 : 0;
    EXPECT_LE(right, 3);
  }
}

TEST(Perceptron, ShuffledTrainingIsSeeded) {
  const Tensor t({4}, {0, 1, 1, 1});  // OR
  Perceptron a({.inputs = 2, .shuffle = true, .seed = 3}),
      b({.inputs = 2, .shuffle = true, .seed = 3});
  EXPECT_EQ(a.train(kGateInputs, t).errors_per_epoch, b.train(kGateInputs, t).errors_per_epoch);
  EXPECT_EQ(a.weights().to_vector(), b.weights().to_vector());
}

TEST(Perceptron, RejectsBadArgumentsWithOneClearMessage) {
  expect_throw_containing<ValueError>([] { Perceptron({.inputs = 0}); },
                                      "inputs must be >= 1, got 0");
  expect_throw_containing<ValueError>([] { Perceptron({.learning_rate = 0}); },
                                      "learning_rate must be a finite number > 0, got 0");
  expect_throw_containing<ValueError>([] { Perceptron({.learning_rate = NAN}); },
                                      "learning_rate must be a finite number > 0");
  expect_throw_containing<ValueError>([] { Perceptron({.max_epochs = 0}); },
                                      "max_epochs must be >= 1, got 0");
  Perceptron p({.inputs = 2});
  expect_throw_containing<ShapeError>(
      [&] {
        p.train(Tensor({4, 3}), Tensor({4}));
      },
      "expected x [N, 2] (N >= 1) and t [N], got [4, 3] and [4]");
  expect_throw_containing<ShapeError>([&] { p.train(kGateInputs, Tensor({3})); },
                                      "got [4, 2] and [3]");
  expect_throw_containing<ShapeError>(
      [&] {
        p.train(kGateInputs, Tensor({4, 2}));
      },
      "got [4, 2] and [4, 2]");
  expect_throw_containing<ShapeError>(
      [&] {
        p.train(Tensor({0, 2}), Tensor({0}));
      },
      "got [0, 2] and [0]");
  expect_throw_containing<ValueError>(
      [&] {
        p.train(kGateInputs, Tensor({4}, {0, 1, 0.5f, 0}));
      },
      "target of sample 2 is 0.5; expected 0 or 1");
  expect_throw_containing<ValueError>(
      [&] {
        p.train(Tensor({2, 2}, {0, 0, INFINITY, 1}), Tensor({2}, {0, 1}));
      },
      "input 0 of sample 1 is not finite");
  expect_throw_containing<ShapeError>([&] { (void)p.predict(Tensor({4})); },
                                      "expected x [N, 2], got [4]");
}

}  // namespace
}  // namespace nnkit
