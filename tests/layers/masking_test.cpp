#include "nnkit/layers/masking.h"

#include <gtest/gtest.h>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers/registry.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_error_message;
using testing::expect_layer_gradients;
using testing::random_tensor;

// x [2, 3, 2]: sample 0 pads its last step, sample 1 its first (mask value 0).
Tensor padded_batch() {
  return Tensor({2, 3, 2}, {1, 2, 0.5f, 0, 0, 0,  //
                            0, 0, 3, 4, 0, -1});
}

TEST(Masking, MarksStepsWhoseFeaturesAllEqualTheMaskValue) {
  Rng rng(1);
  Masking masking;
  masking.build({3, 2}, rng);
  Tensor mask = masking.compute_mask(padded_batch());
  EXPECT_EQ(mask.shape(), (Shape{2, 3}));
  // A step with one feature at the mask value is data: only all-equal steps are padding.
  EXPECT_EQ(mask.to_vector(), (std::vector<float>{1, 1, 0, 0, 1, 1}));
}

TEST(Masking, ZeroesPaddingInTheOutputAndTheGradient) {
  Rng rng(2);
  Masking masking({.mask_value = -7.0f});
  masking.build({2, 2}, rng);
  Tensor x({1, 2, 2}, {-7, -7, 3, -7});
  Tensor y = masking.forward(x, Mode::Train);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{0, 0, 3, -7}));
  Tensor dx = masking.backward(Tensor({1, 2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{0, 0, 3, 4}));
}

TEST(Masking, BackwardMatchesFiniteDifferencesAwayFromPadding) {
  // Padding is where the function jumps (nudging one feature makes the step data), so finite
  // differences apply only to data steps; the padding's zero gradient is checked above.
  Rng rng(3);
  Masking masking({.mask_value = 5.0f});
  masking.build({4, 3}, rng);
  expect_layer_gradients(masking, random_tensor({2, 4, 3}, rng));
}

TEST(Masking, CombinesWithAMaskFromBefore) {
  Rng rng(4);
  Masking masking;
  masking.build({3, 2}, rng);
  Tensor before({2, 3}, {1, 0, 1, 1, 1, 1});
  Tensor mask = masking.propagate_mask(padded_batch(), before);
  EXPECT_EQ(mask.to_vector(), (std::vector<float>{1, 0, 0, 0, 1, 1}));
}

TEST(Masking, RoundTripsThroughItsConfig) {
  auto layer = make_layer({{"type", "Masking"}, {"mask_value", -1.5}});
  EXPECT_EQ(layer->config(), (nlohmann::json{{"type", "Masking"}, {"mask_value", -1.5}}));
  EXPECT_EQ(make_layer(layer->config())->config(), layer->config());
  EXPECT_EQ(make_layer({{"type", "Masking"}})->config()["mask_value"], 0.0);
}

TEST(Masking, RejectsInputsThatAreNotSequencesAndUnknownArguments) {
  Rng rng(5);
  Masking masking;
  expect_error_message([&] { masking.build({4}, rng); }, "expected sequences [N, T, F]");
  expect_error_message([] { make_layer({{"type", "Masking"}, {"value", 0}}); }, "value");
}

}  // namespace
}  // namespace nnkit
