#include "nnkit/layers/flatten.h"

#include <gtest/gtest.h>

#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

using testing::expect_layer_gradients;
using testing::random_tensor;

TEST(Flatten, FlattensEachSampleInRowMajorOrder) {
  Rng rng(51);
  Flatten flatten;
  EXPECT_EQ(flatten.build({2, 3, 4}, rng), (Shape{24}));
  Tensor x = random_tensor({5, 2, 3, 4}, rng);
  Tensor y = flatten.forward(x, Mode::Infer);
  EXPECT_EQ(y.shape(), (Shape{5, 24}));
  EXPECT_EQ(y.to_vector(), x.to_vector());
  Tensor dx = flatten.backward(y);
  EXPECT_EQ(dx.shape(), x.shape());
}

TEST(Flatten, BackwardMatchesFiniteDifferences) {
  Rng rng(52);
  Flatten flatten;
  flatten.build({3, 2}, rng);
  expect_layer_gradients(flatten, random_tensor({2, 3, 2}, rng));
}

TEST(Flatten, NamesItselfInShapeErrors) {
  Rng rng(53);
  Flatten flatten;
  flatten.build({3, 2}, rng);
  try {
    flatten.forward(Tensor({2, 2, 3}), Mode::Infer);
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()), "Flatten: expected input [N, 3, 2], got [2, 2, 3]");
  }
}

}  // namespace
}  // namespace nnkit
