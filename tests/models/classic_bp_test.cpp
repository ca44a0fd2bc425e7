#include "nnkit/models/classic_bp.h"

#include <gtest/gtest.h>

#include "nnkit/error.h"

namespace nnkit {
namespace {

TEST(ClassicBP, LearnsXor) {
  Tensor x({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1}), t({4, 1}, {0, 1, 1, 0});
  ClassicBP bp({.layer_sizes = {2, 4, 1},
                .learning_rate = 0.5f,
                .precision = 1e-3,
                .max_iterations = 500000,
                .seed = 1});
  ClassicBPResult r = bp.train(x, t);
  EXPECT_TRUE(r.converged) << "error " << r.error << " after " << r.iterations;
  EXPECT_LT(r.error, 1e-3);
  Tensor out = bp.predict(x);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], t[i], 0.1f) << i;
}

TEST(ClassicBP, StartsWithWeightsInMinusOneToOne) {
  ClassicBP bp({.layer_sizes = {3, 50, 2}});
  for (const Tensor& w : bp.weights()) {
    for (float v : w) {
      EXPECT_GT(v, -1.0f);
      EXPECT_LT(v, 1.0f);
    }
  }
}

TEST(ClassicBP, OneStepIsTheNotesWorkedExample) {
  // With one sample the random pick is always that sample: the step is the notes' example.
  ClassicBP bp(
      {.layer_sizes = {2, 2, 2}, .learning_rate = 0.5f, .precision = 0, .max_iterations = 1});
  bp.weights()[0] = Tensor({2, 2}, {0.15f, 0.20f, 0.25f, 0.30f});
  bp.biases()[0] = Tensor({2}, {0.35f, 0.35f});
  bp.weights()[1] = Tensor({2, 2}, {0.40f, 0.45f, 0.50f, 0.55f});
  bp.biases()[1] = Tensor({2}, {0.60f, 0.60f});
  Tensor x({1, 2}, {0.05f, 0.10f}), t({1, 2}, {0.01f, 0.99f});
  EXPECT_NEAR(bp.error(x, t), 0.298371109, 1e-6);
  ClassicBPResult r = bp.train(x, t);
  EXPECT_EQ(r.iterations, 1);
  const float w5[] = {0.35891648f, 0.408666186f, 0.511301270f, 0.561370121f};
  const float w1[] = {0.149780716f, 0.19956143f, 0.24975114f, 0.29950229f};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(bp.weights()[1][i], w5[i], 1e-6);
    EXPECT_NEAR(bp.weights()[0][i], w1[i], 1e-6);
  }
}

TEST(ClassicBP, StopsAtTheIterationLimit) {
  Tensor x({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1}), t({4, 1}, {0, 1, 1, 0});
  ClassicBP bp({.layer_sizes = {2, 2, 1}, .precision = 0, .max_iterations = 10});
  ClassicBPResult r = bp.train(x, t);
  EXPECT_FALSE(r.converged);
  EXPECT_EQ(r.iterations, 10);
}

TEST(ClassicBP, RejectsMismatchedData) {
  ClassicBP bp({.layer_sizes = {2, 2, 1}});
  EXPECT_THROW(bp.train(Tensor({4, 3}), Tensor({4, 1})), ShapeError);
  EXPECT_THROW(ClassicBP({.layer_sizes = {2}}), ValueError);
}

}  // namespace
}  // namespace nnkit
