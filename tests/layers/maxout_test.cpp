#include "nnkit/layers/maxout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

using testing::expect_layer_gradients;
using testing::random_tensor;

TEST(Maxout, TakesTheMaximumOverEachUnitsPieces) {
  Rng rng(71);
  Maxout maxout({.units = 2, .pieces = 3});
  EXPECT_EQ(maxout.build({1}, rng), (Shape{2}));
  std::vector<Param*> p = maxout.params();
  ASSERT_EQ(p[0]->value.shape(), (Shape{6, 1}));
  // Unit 0's pieces are rows 0..2, unit 1's rows 3..5: z = w·x + b.
  p[0]->value = Tensor({6, 1}, {1, -1, 2, 0.5f, 3, -3});
  p[1]->value = Tensor({6}, {0, 0, -5, 0, 0, 0});
  Tensor y = maxout.forward(Tensor({2, 1}, {2, -2}), Mode::Train);
  // x = 2: unit 0 max(2, -2, -1) = 2, unit 1 max(1, 6, -6) = 6.
  // x = -2: unit 0 max(-2, 2, -9) = 2, unit 1 max(-1, -6, 6) = 6.
  EXPECT_EQ(y.to_vector(), (std::vector<float>{2, 6, 2, 6}));
  maxout.backward(Tensor({2, 2}, {1, 10, 100, 1000}));
  // Row 0 won for x = 2 (dy 1), row 1 for x = -2 (dy 100): dW = Σ dy·x per winning row.
  EXPECT_EQ(p[0]->grad.to_vector(), (std::vector<float>{2, -200, 0, 0, 20, -2000}));
  EXPECT_EQ(p[1]->grad.to_vector(), (std::vector<float>{1, 100, 0, 0, 10, 1000}));
}

TEST(Maxout, BackwardMatchesFiniteDifferences) {
  Rng rng(72);
  Maxout maxout({.units = 3, .pieces = 4});
  maxout.build({5}, rng);
  for (float& b : maxout.params()[1]->value) b = rng.uniform(-1.0f, 1.0f);
  Tensor x = random_tensor({4, 5}, rng);
  // The check needs the winning pieces to stay put under a step of 0.01 in one input, weight
  // or bias (which moves z by at most 0.01·max(|x|, |w|, 1) = 0.01): make sure no two pieces
  // are within 0.02 of each other at this seed.
  const Tensor& w = maxout.params()[0]->value;
  const Tensor& b = maxout.params()[1]->value;
  for (int n = 0; n < 4; ++n) {
    for (int u = 0; u < 3; ++u) {
      std::vector<float> z(4, 0.0f);
      for (int p = 0; p < 4; ++p) {
        z[p] = b[u * 4 + p];
        for (int i = 0; i < 5; ++i) z[p] += w[(u * 4 + p) * 5 + i] * x[n * 5 + i];
      }
      std::sort(z.begin(), z.end());
      ASSERT_GT(z[3] - z[2], 0.02f) << "pieces nearly tied at sample " << n << ", unit " << u;
    }
  }
  expect_layer_gradients(maxout, x);
}

TEST(Maxout, BackwardOnSequencesMatchesFiniteDifferences) {
  Rng rng(73);
  Maxout maxout({.units = 2, .pieces = 3});
  EXPECT_EQ(maxout.build({3, 4}, rng), (Shape{3, 2}));
  expect_layer_gradients(maxout, random_tensor({2, 3, 4}, rng));
}

TEST(Maxout, RejectsBadOptionsAndShapes) {
  EXPECT_THROW(Maxout({.units = 0}), ValueError);
  EXPECT_THROW(Maxout({.units = 2, .pieces = 0}), ValueError);
  Rng rng(74);
  Maxout maxout({.units = 4, .pieces = 2});
  maxout.build({6}, rng);
  try {
    maxout.forward(Tensor({3, 2, 3}), Mode::Infer);
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "Maxout(units=4, pieces=2): expected input [N, 6], got [3, 2, 3]; add Flatten "
              "before Maxout");
  }
  EXPECT_THROW(maxout.backward(Tensor({3, 4})), ValueError);
}

}  // namespace
}  // namespace nnkit
