#include "nnkit/layers/reshape.h"

#include <gtest/gtest.h>

#include <string>

#include "gradient_check.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

using testing::expect_layer_gradients;
using testing::random_tensor;

TEST(Reshape, InfersTheMinusOneDimension) {
  Rng rng(54);
  Reshape reshape({.target_shape = {3, -1}});
  EXPECT_EQ(reshape.build({12}, rng), (Shape{3, 4}));
  Tensor x = random_tensor({2, 12}, rng);
  Tensor y = reshape.forward(x, Mode::Train);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(y.to_vector(), x.to_vector());
  EXPECT_EQ(reshape.config(), (nlohmann::json{{"type", "Reshape"}, {"target_shape", {3, -1}}}));
}

TEST(Reshape, BackwardMatchesFiniteDifferences) {
  Rng rng(55);
  Reshape reshape({.target_shape = {2, 2, 3}});
  reshape.build({6, 2}, rng);
  expect_layer_gradients(reshape, random_tensor({2, 6, 2}, rng));
}

TEST(Reshape, RejectsSizesThatCannotMatch) {
  Rng rng(56);
  EXPECT_THROW(Reshape({.target_shape = {-1, -1}}), ValueError);
  EXPECT_THROW(Reshape({.target_shape = {0, 3}}), ValueError);
  Reshape reshape({.target_shape = {3, -1}});
  try {
    reshape.build({7}, rng);
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "Reshape(target_shape=[3, -1]): cannot reshape input [N, 7] (7 values per sample) "
              "into [3, -1]");
  }
  Reshape fixed({.target_shape = {2, 4}});
  EXPECT_THROW(fixed.build({7}, rng), ShapeError);
  EXPECT_EQ(fixed.build({8}, rng), (Shape{2, 4}));
}

}  // namespace
}  // namespace nnkit
