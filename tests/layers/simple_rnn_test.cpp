#include "nnkit/layers/simple_rnn.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers/registry.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_error_message;
using testing::expect_gradients;
using testing::expect_layer_gradients;
using testing::random_tensor;
using testing::relative_error;

std::vector<double> values(const Tensor& t) { return {t.begin(), t.end()}; }

// Random biases, so that the bias gradients and the paths through them are exercised (the
// default initialiser gives zeros).
void randomize_biases(SimpleRNN& layer, Rng& rng) {
  for (Param* p : layer.params()) {
    if (p->name.starts_with("bias")) {
      for (float& v : p->value) v = rng.uniform(-0.5f, 0.5f);
    }
  }
}

TEST(SimpleRNN, ComputesTheElmanRecurrence) {
  Rng rng(1);
  SimpleRNN rnn({.units = 1, .return_sequences = true});
  rnn.build({2, 1}, rng);
  std::vector<Param*> p = rnn.params();
  ASSERT_EQ(p.size(), 4u);
  p[0]->value[0] = 0.5f;   // weight_ih
  p[1]->value[0] = -1.0f;  // weight_hh
  p[2]->value[0] = 0.1f;   // bias_ih
  p[3]->value[0] = 0.2f;   // bias_hh
  Tensor y = rnn.forward(Tensor({1, 2, 1}, {1.0f, 2.0f}), Mode::Infer);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 1}));
  const float h0 = std::tanh(0.5f + 0.3f);
  EXPECT_NEAR(y[0], h0, 1e-6);
  EXPECT_NEAR(y[1], std::tanh(1.0f + 0.3f - h0), 1e-6);
}

TEST(SimpleRNN, GoBackwardsProcessesTheLastStepFirstAndOutputsInThatOrder) {
  Rng rng(2);
  SimpleRNN forward({.units = 3, .return_sequences = true}),
      backward({.units = 3, .return_sequences = true, .go_backwards = true});
  forward.build({4, 2}, rng);
  backward.build({4, 2}, rng);
  for (std::size_t i = 0; i < forward.params().size(); ++i) {
    backward.params()[i]->value = forward.params()[i]->value;
  }
  Tensor x = random_tensor({2, 4, 2}, rng), reversed({2, 4, 2});
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t t = 0; t < 4; ++t) {
      for (int64_t f = 0; f < 2; ++f) reversed[(n * 4 + t) * 2 + f] = x[(n * 4 + 3 - t) * 2 + f];
    }
  }
  EXPECT_EQ(backward.forward(x, Mode::Infer).to_vector(),
            forward.forward(reversed, Mode::Infer).to_vector());
}

struct GradientCase {
  std::string name;
  SimpleRNNOptions options;
  int64_t batch = 2;
};

class SimpleRNNGradient : public ::testing::TestWithParam<GradientCase> {};

TEST_P(SimpleRNNGradient, BackwardMatchesFiniteDifferences) {
  Rng rng(3);
  SimpleRNN rnn(GetParam().options);
  rnn.build({12, 3}, rng);
  randomize_biases(rnn, rng);
  expect_layer_gradients(rnn, random_tensor({GetParam().batch, 12, 3}, rng));
}

INSTANTIATE_TEST_SUITE_P(
    TwelveSteps, SimpleRNNGradient,
    ::testing::Values(GradientCase{"LastOutput", {.units = 4}},
                      GradientCase{"ReturnSequences", {.units = 4, .return_sequences = true}},
                      GradientCase{"GoBackwards", {.units = 4, .go_backwards = true}},
                      GradientCase{"GoBackwardsReturnSequences",
                                   {.units = 4, .return_sequences = true, .go_backwards = true}},
                      GradientCase{"WithoutBias", {.units = 4, .use_bias = false}},
                      GradientCase{"BatchOne", {.units = 4, .return_sequences = true}, 1},
                      GradientCase{"Softsign", {.units = 4, .activation = "softsign"}},
                      // swish's derivative reads the pre-activations.
                      GradientCase{"Swish", {.units = 4, .activation = "swish"}}),
    [](const auto& param_info) { return param_info.param.name; });

// The smallest |pre-activation| of any unit at any step, by plain loops.
float min_abs_preactivation(SimpleRNN& rnn, const Tensor& x) {
  const int64_t batch = x.dim(0), steps = x.dim(1), features = x.dim(2);
  const int64_t units = rnn.options().units;
  std::vector<Param*> p = rnn.params();
  float smallest = INFINITY;
  for (int64_t n = 0; n < batch; ++n) {
    std::vector<float> h(units, 0.0f), next(units);
    for (int64_t t = 0; t < steps; ++t) {
      for (int64_t i = 0; i < units; ++i) {
        float a = p[2]->value[i] + p[3]->value[i];
        for (int64_t f = 0; f < features; ++f) {
          a += p[0]->value[i * features + f] * x[(n * steps + t) * features + f];
        }
        for (int64_t j = 0; j < units; ++j) a += p[1]->value[i * units + j] * h[j];
        smallest = std::min(smallest, std::fabs(a));
        next[i] = std::max(a, 0.0f);
      }
      h = next;
    }
  }
  return smallest;
}

TEST(SimpleRNN, ReluBackwardMatchesFiniteDifferencesAwayFromTheKink) {
  Rng rng(4);
  SimpleRNN rnn({.units = 3, .activation = "relu", .return_sequences = true});
  rnn.build({12, 2}, rng);
  randomize_biases(rnn, rng);
  // Inputs redrawn until no pre-activation lies within 0.05 of relu's kink at 0, well beyond
  // what the finite differences' steps of 0.01 can move it.
  Tensor x;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    x = random_tensor({2, 12, 2}, rng);
    if (min_abs_preactivation(rnn, x) > 0.05f) break;
  }
  ASSERT_GT(min_abs_preactivation(rnn, x), 0.05f);
  expect_layer_gradients(rnn, x);
}

// The fused path against the plain reference loops, forward and backward, on awkward sizes.
TEST(SimpleRNN, MatchesTheReferenceOnAwkwardSizes) {
  Rng rng(5);
  for (int64_t batch : {1, 3}) {
    for (int64_t steps : {1, 5}) {
      for (int64_t features : {1, 6}) {
        // 130: more than one 128-column block of the batch-1 kernels (kernels/gemv.h).
        for (int64_t units : {1, 7, 33, 130}) {
          for (int variant = 0; variant < 4; ++variant) {
            const bool sequences = variant & 1, backwards = variant & 2;
            SCOPED_TRACE(::testing::Message()
                         << "batch " << batch << ", steps " << steps << ", features " << features
                         << ", units " << units << ", return_sequences " << sequences
                         << ", go_backwards " << backwards);
            SimpleRNN rnn({.units = units,
                           .use_bias = units != 7,
                           .return_sequences = sequences,
                           .go_backwards = backwards});
            rnn.build({steps, features}, rng);
            randomize_biases(rnn, rng);
            Tensor x = random_tensor({batch, steps, features}, rng);
            Tensor y = rnn.forward(x, Mode::Train), expected = rnn.forward_reference(x);
            ASSERT_EQ(y.shape(), expected.shape());
            EXPECT_LT(relative_error(values(y), values(expected)), 1e-5);

            Tensor dy = random_tensor(y.shape(), rng);
            rnn.zero_grad();
            Tensor dx = rnn.backward(dy);
            std::vector<std::vector<double>> grads;
            for (Param* p : rnn.params()) grads.push_back(values(p->grad));
            rnn.zero_grad();
            Tensor dx_expected = rnn.backward_reference(x, dy);
            ASSERT_EQ(dx.shape(), dx_expected.shape());
            EXPECT_LT(relative_error(values(dx), values(dx_expected)), 1e-5);
            for (std::size_t i = 0; i < grads.size(); ++i) {
              EXPECT_LT(relative_error(grads[i], values(rnn.params()[i]->grad)), 1e-5)
                  << rnn.params()[i]->name;
            }
          }
        }
      }
    }
  }
}

TEST(SimpleRNN, ReusesItsBuffersAcrossBatchShapes) {
  Rng rng(6);
  SimpleRNN rnn({.units = 5, .return_sequences = true});
  rnn.build({4, 3}, rng);
  randomize_biases(rnn, rng);
  // Batch and step counts change, then come back: each result must be the reference's.
  for (Shape shape : {Shape{2, 4, 3}, Shape{3, 4, 3}, Shape{3, 2, 3}, Shape{2, 4, 3}}) {
    Tensor x = random_tensor(shape, rng);
    Tensor y = rnn.forward(x, Mode::Train);
    EXPECT_LT(relative_error(values(y), values(rnn.forward_reference(x))), 1e-5);
    rnn.zero_grad();
    Tensor dx = rnn.backward(y);
    Tensor dx_expected = rnn.backward_reference(x, y);
    EXPECT_LT(relative_error(values(dx), values(dx_expected)), 1e-5);
  }
}

TEST(SimpleRNN, HasPyTorchParametersWithAnOrthogonalRecurrentWeight) {
  Rng rng(7);
  SimpleRNN rnn({.units = 6});
  EXPECT_EQ(rnn.build({10, 4}, rng), (Shape{6}));
  std::vector<Param*> p = rnn.params();
  ASSERT_EQ(p.size(), 4u);
  const char* names[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  const Shape shapes[] = {{6, 4}, {6, 6}, {6}, {6}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(p[i]->name, names[i]);
    EXPECT_EQ(p[i]->value.shape(), shapes[i]);
  }
  EXPECT_EQ(rnn.param_count(), 6 * 4 + 6 * 6 + 12);
  const Tensor& w = p[1]->value;
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) {
      double dot = 0;
      for (int k = 0; k < 6; ++k) dot += double{w[k * 6 + i]} * w[k * 6 + j];
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5);
    }
  }
  for (float b : p[2]->value) EXPECT_EQ(b, 0.0f);
  SimpleRNN no_bias({.units = 6, .use_bias = false, .return_sequences = true});
  EXPECT_EQ(no_bias.build({10, 4}, rng), (Shape{10, 6}));
  EXPECT_EQ(no_bias.params().size(), 2u);
}

TEST(SimpleRNN, ConfigRoundTripsThroughMakeLayer) {
  Rng rng(8);
  SimpleRNN rnn({.units = 5,
                 .activation = "relu",
                 .use_bias = false,
                 .return_sequences = true,
                 .go_backwards = true,
                 .kernel_initializer = {.name = "he_normal"}});
  nlohmann::json config = rnn.config();
  EXPECT_EQ(config["type"], "SimpleRNN");
  EXPECT_EQ(config["units"], 5);
  EXPECT_EQ(config["activation"], "relu");
  EXPECT_EQ(config["go_backwards"], true);
  std::unique_ptr<Layer> rebuilt = make_layer(config);
  EXPECT_EQ(rebuilt->config(), config);
  // The same weights give the same outputs.
  rnn.build({3, 2}, rng);
  rebuilt->build({3, 2}, rng);
  for (std::size_t i = 0; i < rnn.params().size(); ++i) {
    rebuilt->params()[i]->value = rnn.params()[i]->value;
  }
  Tensor x = random_tensor({2, 3, 2}, rng);
  EXPECT_EQ(rebuilt->forward(x, Mode::Infer).to_vector(), rnn.forward(x, Mode::Infer).to_vector());
  // Keras's defaults, and its null for a linear activation.
  nlohmann::json defaults = make_layer({{"type", "SimpleRNN"}, {"units", 2}})->config();
  EXPECT_EQ(defaults["activation"], "tanh");
  EXPECT_EQ(defaults["use_bias"], true);
  EXPECT_EQ(defaults["return_sequences"], false);
  EXPECT_EQ(defaults["go_backwards"], false);
  EXPECT_EQ(defaults["kernel_initializer"], "glorot_uniform");
  EXPECT_EQ(defaults["recurrent_initializer"], "orthogonal");
  EXPECT_EQ(defaults["bias_initializer"], "zeros");
  EXPECT_EQ(make_layer({{"type", "SimpleRNN"}, {"units", 2}, {"activation", nullptr}})
                ->config()["activation"],
            "linear");
}

TEST(SimpleRNN, RejectsBadInputsAndOptionsWithClearMessages) {
  Rng rng(9);
  SimpleRNN rnn({.units = 4});
  expect_error_message(
      [&] {
        rnn.forward(Tensor({2, 5, 3}), Mode::Infer);
      },
      "SimpleRNN(units=4): forward() before build()");
  expect_error_message([&] { rnn.build({3}, rng); },
                       "SimpleRNN(units=4): expected input [N, T, F] (batch, time steps, "
                       "features), got per-sample shape [N, 3]");
  rnn.build({5, 3}, rng);
  EXPECT_THROW(rnn.forward(Tensor({2, 3}), Mode::Infer), ShapeError);
  expect_error_message(
      [&] {
        rnn.forward(Tensor({2, 3}), Mode::Infer);
      },
      "SimpleRNN(units=4): expected input [N, T, 3] (batch, time steps, "
      "features), got [2, 3]");
  expect_error_message(
      [&] {
        rnn.forward(Tensor({2, 5, 4}), Mode::Infer);
      },
      "expected input [N, T, 3]");
  expect_error_message([&] { rnn.backward(Tensor({2, 4})); }, "needs a forward(x, Mode::Train)");
  rnn.forward(Tensor({2, 5, 3}), Mode::Train);
  EXPECT_THROW(rnn.backward(Tensor({2, 5, 4})), ShapeError);
  EXPECT_THROW(SimpleRNN({.units = 0}), ValueError);
  expect_error_message([] { SimpleRNN({.units = -2}); },
                       "SimpleRNN: units must be positive, got -2");
  expect_error_message([] { SimpleRNN({.units = 2, .activation = "tahn"}); },
                       "SimpleRNN(units=2): unknown activation 'tahn'");
  expect_error_message([] { SimpleRNN({.units = 2, .activation = "softmax"}); },
                       "activation softmax is not element-wise");
  expect_error_message(
      [] {
        make_layer({{"type", "SimpleRNN"}, {"units", 2}, {"recurrent_dropout", 0.1}});
      },
      "SimpleRNN: unknown argument 'recurrent_dropout'");
  expect_error_message(
      [] {
        make_layer({{"type", "SimpleRNN"}, {"unit", 2}});
      },
      "did you mean 'units'?");
  expect_error_message(
      [] {
        make_layer({{"type", "SimpleRNN"}});
      },
      "SimpleRNN: missing required argument 'units'");
}

TEST(SimpleRNN, SkipsTheInputGradientWhenNobodyReadsIt) {
  Rng rng(10);
  SimpleRNN rnn({.units = 3});
  rnn.build({4, 2}, rng);
  Tensor x = random_tensor({2, 4, 2}, rng), dy = random_tensor({2, 3}, rng);
  rnn.forward(x, Mode::Train);
  rnn.backward(dy);
  std::vector<float> grad = rnn.params()[0]->grad.to_vector();
  rnn.zero_grad();
  rnn.set_input_gradient_needed(false);
  rnn.forward(x, Mode::Train);
  EXPECT_TRUE(rnn.backward(dy).empty());
  EXPECT_EQ(rnn.params()[0]->grad.to_vector(), grad);
}

// ---- State, masks, stateful, streaming and dropout (the Recurrent base) ----

// x [N, T, F] -> its steps [first, last).
Tensor steps_of(const Tensor& x, int64_t first, int64_t last) {
  const int64_t batch = x.dim(0), steps = x.dim(1), features = x.dim(2);
  Tensor out({batch, last - first, features});
  for (int64_t n = 0; n < batch; ++n) {
    std::copy_n(x.data() + (n * steps + first) * features, (last - first) * features,
                out.data() + n * (last - first) * features);
  }
  return out;
}

// Runs of different shapes may round differently (the GEMMs block by rows), hence a tolerance.
void expect_close(const Tensor& actual, const Tensor& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  EXPECT_LT(relative_error(values(actual), values(expected)), 1e-6);
}

// [3, steps] mask: sample 0 whole, sample 1 padded at the end (its last 3 steps), sample 2
// padded in the middle (steps 2 and 3) and at the start (step 0).
Tensor padding_mask(int64_t steps) {
  Tensor mask({3, steps}, 1.0f);
  for (int64_t t = steps - 3; t < steps; ++t) mask[steps + t] = 0.0f;
  for (int64_t t : {0, 2, 3}) mask[2 * steps + t] = 0.0f;
  return mask;
}

// The shared check on L = Σ r ⊙ [y, h_final]: the gradients of x, every weight and the
// initial state h_{−1} (checked as one more parameter), with the final state feeding the loss
// so that set_final_state_gradient() is exercised. mask: empty or [N, T], set for every forward.
void expect_state_gradients(Recurrent& layer, const Tensor& x, Rng& rng,
                            const Tensor& mask = Tensor()) {
  const int64_t batch = x.dim(0), units = layer.units();
  Param h0{"initial state h", random_tensor({batch, units}, rng), Tensor({batch, units})};
  Shape y_shape;
  auto forward = [&](const Tensor& in) {
    layer.set_initial_state({h0.value});
    if (!mask.empty()) layer.set_mask(mask);
    Tensor y = layer.forward(in, Mode::Train);
    const Tensor& h = layer.final_state().at(0);
    y_shape = y.shape();
    Tensor out({y.size() + h.size()});
    std::copy(y.begin(), y.end(), out.begin());
    std::copy(h.begin(), h.end(), out.begin() + y.size());
    return out;
  };
  auto backward = [&](const Tensor& dout) {
    Tensor dy(y_shape), dh({batch, units});
    std::copy_n(dout.begin(), dy.size(), dy.begin());
    std::copy_n(dout.begin() + dy.size(), dh.size(), dh.begin());
    layer.set_final_state_gradient({dh});
    Tensor dx = layer.backward(dy);
    h0.grad = layer.initial_state_gradient().at(0);
    return dx;
  };
  std::vector<Param*> params = layer.params();
  params.push_back(&h0);
  expect_gradients(forward, backward, x, params);
}

struct StateCase {
  std::string name;
  SimpleRNNOptions options;
  bool masked = false;
  bool zero_output_for_mask = false;
};
// gtest names a failing case by its name rather than a byte dump.
void PrintTo(const StateCase& c, std::ostream* os) { *os << c.name; }

class SimpleRNNStateGradient : public ::testing::TestWithParam<StateCase> {};

TEST_P(SimpleRNNStateGradient, BackwardMatchesFiniteDifferencesIncludingTheStates) {
  Rng rng(20);
  SimpleRNN rnn(GetParam().options);
  rnn.build({8, 3}, rng);
  randomize_biases(rnn, rng);
  rnn.set_zero_output_for_mask(GetParam().zero_output_for_mask);
  const Tensor mask = GetParam().masked ? padding_mask(8) : Tensor();
  expect_state_gradients(rnn, random_tensor({3, 8, 3}, rng), rng, mask);
}

INSTANTIATE_TEST_SUITE_P(
    EightSteps, SimpleRNNStateGradient,
    ::testing::Values(
        StateCase{"LastOutput", {.units = 4}},
        StateCase{"ReturnSequences", {.units = 4, .return_sequences = true}},
        StateCase{"GoBackwards", {.units = 4, .go_backwards = true}},
        StateCase{"Swish", {.units = 4, .activation = "swish", .return_sequences = true}},
        StateCase{"MaskedLastOutput", {.units = 4}, true},
        StateCase{"MaskedReturnSequences", {.units = 4, .return_sequences = true}, true},
        StateCase{"MaskedGoBackwards", {.units = 4, .go_backwards = true}, true},
        StateCase{"MaskedGoBackwardsReturnSequences",
                  {.units = 4, .return_sequences = true, .go_backwards = true},
                  true},
        StateCase{"MaskedWithoutBias", {.units = 4, .use_bias = false}, true},
        StateCase{"MaskedZeroOutput", {.units = 4, .return_sequences = true}, true, true}),
    [](const auto& param_info) { return param_info.param.name; });

// The fused path against the reference loops with an initial state, a mask and a final-state
// gradient, on awkward sizes.
TEST(SimpleRNN, MatchesTheReferenceWithStatesAndMasks) {
  Rng rng(21);
  for (int64_t units : {1, 7, 33}) {
    for (int variant = 0; variant < 8; ++variant) {
      const bool sequences = variant & 1, backwards = variant & 2, masked = variant & 4;
      SCOPED_TRACE(::testing::Message() << "units " << units << ", return_sequences " << sequences
                                        << ", go_backwards " << backwards << ", masked " << masked);
      SimpleRNN rnn({.units = units, .return_sequences = sequences, .go_backwards = backwards});
      rnn.build({5, 6}, rng);
      randomize_biases(rnn, rng);
      Tensor x = random_tensor({3, 5, 6}, rng);
      const SimpleRNN::ReferenceState state{.initial = random_tensor({3, units}, rng),
                                            .mask = masked ? padding_mask(5) : Tensor(),
                                            .dfinal = random_tensor({3, units}, rng)};
      rnn.set_initial_state({state.initial});
      if (masked) rnn.set_mask(state.mask);
      Tensor y = rnn.forward(x, Mode::Train), expected = rnn.forward_reference(x, state);
      EXPECT_LT(relative_error(values(y), values(expected)), 1e-5);
      Tensor dy = random_tensor(y.shape(), rng);
      rnn.zero_grad();
      rnn.set_final_state_gradient({state.dfinal});
      Tensor dx = rnn.backward(dy);
      Tensor dh0 = rnn.initial_state_gradient().at(0);
      std::vector<std::vector<double>> grads;
      for (Param* p : rnn.params()) grads.push_back(values(p->grad));
      rnn.zero_grad();
      Tensor dh0_expected;
      Tensor dx_expected = rnn.backward_reference(x, dy, state, &dh0_expected);
      EXPECT_LT(relative_error(values(dx), values(dx_expected)), 1e-5);
      EXPECT_LT(relative_error(values(dh0), values(dh0_expected)), 1e-5);
      for (std::size_t i = 0; i < grads.size(); ++i) {
        EXPECT_LT(relative_error(grads[i], values(rnn.params()[i]->grad)), 1e-5)
            << rnn.params()[i]->name;
      }
    }
  }
}

TEST(SimpleRNN, FinalStateIsTheLastProcessedStepsH) {
  Rng rng(22);
  SimpleRNN rnn({.units = 4, .return_sequences = true});
  rnn.build({5, 2}, rng);
  Tensor x = random_tensor({2, 5, 2}, rng);
  Tensor y = rnn.forward(x, Mode::Infer);
  ASSERT_EQ(rnn.final_state().size(), 1u);
  EXPECT_EQ(rnn.final_state()[0].to_vector(), steps_of(y, 4, 5).to_vector());
  // An initial state changes the output, and is used for the next forward only.
  Tensor h0 = random_tensor({2, 4}, rng);
  rnn.set_initial_state({h0});
  EXPECT_NE(rnn.forward(x, Mode::Infer).to_vector(), y.to_vector());
  EXPECT_EQ(rnn.forward(x, Mode::Infer).to_vector(), y.to_vector());
  rnn.set_initial_state({h0});
  EXPECT_LT(relative_error(values(rnn.forward(x, Mode::Infer)),
                           values(rnn.forward_reference(
                               x, {.initial = h0, .mask = Tensor(), .dfinal = Tensor()}))),
            1e-5);
}

// Padding at the end leaves the result of the data steps: the unpadded sequence's output, the
// last h repeated at padded steps (Keras); with go_backwards the padding is processed first
// and skipped.
TEST(SimpleRNN, MaskedOutputEqualsTheRunOnTheTruncatedSequence) {
  Rng rng(23);
  for (bool backwards : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "go_backwards " << backwards);
    SimpleRNN rnn({.units = 5, .return_sequences = true, .go_backwards = backwards});
    rnn.build({6, 3}, rng);
    randomize_biases(rnn, rng);
    Tensor x = random_tensor({1, 6, 3}, rng), mask({1, 6}, {1, 1, 1, 1, 0, 0});
    rnn.set_mask(mask);
    Tensor y = rnn.forward(x, Mode::Infer);
    Tensor h = rnn.final_state()[0];
    Tensor y_short = rnn.forward(steps_of(x, 0, 4), Mode::Infer);
    expect_close(h, rnn.final_state()[0]);
    if (!backwards) {
      expect_close(steps_of(y, 0, 4), y_short);
      for (int64_t t : {4, 5}) EXPECT_EQ(steps_of(y, t, t + 1).to_vector(), h.to_vector());
    } else {
      // Processed order: the two padded steps first, carrying h_{−1} = 0.
      EXPECT_EQ(steps_of(y, 0, 2).to_vector(), std::vector<float>(10, 0.0f));
      expect_close(steps_of(y, 2, 6), y_short);
    }
    // The mask was for one forward only.
    EXPECT_NE(rnn.forward(x, Mode::Infer).to_vector(), y.to_vector());
  }
  // Without return_sequences, the output is the state at the last data step.
  SimpleRNN last({.units = 3});
  last.build({6, 2}, rng);
  Tensor x = random_tensor({3, 6, 2}, rng);
  last.set_mask(padding_mask(6));
  Tensor y = last.forward(x, Mode::Infer);
  EXPECT_EQ(y.to_vector(), last.final_state()[0].to_vector());
  Tensor y1 = last.forward(steps_of(x, 0, 3), Mode::Infer);
  for (int64_t u = 0; u < 3; ++u) EXPECT_NEAR(y[3 + u], y1[3 + u], 1e-6);  // sample 1: 3 steps
}

TEST(SimpleRNN, StatefulCarriesTheStateUntilResetStates) {
  Rng rng(24);
  SimpleRNN whole({.units = 4, .return_sequences = true}),
      halves({.units = 4, .return_sequences = true, .stateful = true});
  whole.build({8, 3}, rng);
  halves.build({4, 3}, rng);
  for (std::size_t i = 0; i < whole.params().size(); ++i) {
    halves.params()[i]->value = whole.params()[i]->value;
  }
  Tensor x = random_tensor({2, 8, 3}, rng);
  Tensor y = whole.forward(x, Mode::Infer);
  Tensor first = halves.forward(steps_of(x, 0, 4), Mode::Infer);
  Tensor second = halves.forward(steps_of(x, 4, 8), Mode::Train);
  expect_close(first, steps_of(y, 0, 4));
  expect_close(second, steps_of(y, 4, 8));
  halves.reset_states();
  EXPECT_EQ(halves.forward(steps_of(x, 0, 4), Mode::Infer).to_vector(), first.to_vector());
  // An explicit initial state wins over the carried one.
  halves.set_initial_state({Tensor({2, 4})});
  EXPECT_EQ(halves.forward(steps_of(x, 0, 4), Mode::Infer).to_vector(), first.to_vector());
}

TEST(SimpleRNN, StepByStepEqualsTheWholeSequence) {
  Rng rng(25);
  SimpleRNN rnn({.units = 6, .activation = "softsign", .return_sequences = true});
  rnn.build({7, 3}, rng);
  randomize_biases(rnn, rng);
  Tensor x = random_tensor({2, 7, 3}, rng);
  Tensor y = rnn.forward(x, Mode::Train);
  EXPECT_TRUE(rnn.stream_state().empty());
  for (int round = 0; round < 2; ++round) {
    for (int64_t t = 0; t < 7; ++t) {
      Tensor h = rnn.step(steps_of(x, t, t + 1).reshaped({2, 3}));
      ASSERT_EQ(h.shape(), (Shape{2, 6}));
      SCOPED_TRACE(::testing::Message() << "step " << t);
      expect_close(h, steps_of(y, t, t + 1));
    }
    EXPECT_EQ(rnn.stream_state().at(0).to_vector(), rnn.final_state().at(0).to_vector());
    rnn.reset_states();  // the second round starts again from zeros
  }
  // step() ran in inference mode: the Train forward's cache is gone.
  EXPECT_THROW(rnn.backward(y), ValueError);
}

TEST(SimpleRNN, DropoutDropsWholeInputFeaturesInTrainingOnly) {
  Rng rng(26);
  SimpleRNN rnn({.units = 5, .return_sequences = true, .dropout = 0.5f});
  rnn.build({4, 8}, rng);
  randomize_biases(rnn, rng);
  Tensor x = random_tensor({4, 4, 8}, rng);
  Tensor y_infer = rnn.forward(x, Mode::Infer);
  EXPECT_EQ(rnn.forward(x, Mode::Infer).to_vector(), y_infer.to_vector());
  EXPECT_LT(relative_error(values(y_infer), values(rnn.forward_reference(x))), 1e-5);
  Tensor y = rnn.forward(x, Mode::Train);
  EXPECT_NE(y.to_vector(), y_infer.to_vector());
  Tensor dx = rnn.backward(random_tensor(y.shape(), rng));
  // A feature of a sample is dropped at every step or at none: its dx is exactly zero at every
  // step. The output is then the inference output of x with those features zeroed and the
  // others scaled by 1 / (1 − 0.5).
  Tensor kept_x = x;
  int dropped = 0;
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t f = 0; f < 8; ++f) {
      const bool zero = dx[(n * 4) * 8 + f] == 0.0f;
      dropped += zero;
      for (int64_t t = 0; t < 4; ++t) {
        EXPECT_EQ(dx[(n * 4 + t) * 8 + f] == 0.0f, zero) << "sample " << n << " feature " << f;
        kept_x[(n * 4 + t) * 8 + f] *= zero ? 0.0f : 2.0f;
      }
    }
  }
  EXPECT_GT(dropped, 4);
  EXPECT_LT(dropped, 28);
  EXPECT_LT(relative_error(values(y), values(rnn.forward(kept_x, Mode::Infer))), 1e-6);
  // A new mask every training forward.
  EXPECT_NE(rnn.forward(x, Mode::Train).to_vector(), y.to_vector());
}

TEST(SimpleRNN, ConfigRoundTripsTheRecurrentArguments) {
  SimpleRNN rnn({.units = 3, .return_state = true, .stateful = true, .dropout = 0.25f});
  nlohmann::json config = rnn.config();
  EXPECT_EQ(config["return_state"], true);
  EXPECT_EQ(config["stateful"], true);
  EXPECT_EQ(config["dropout"], 0.25);
  std::unique_ptr<Layer> rebuilt = make_layer(config);
  EXPECT_EQ(rebuilt->config(), config);
  const auto& options = dynamic_cast<SimpleRNN&>(*rebuilt).options();
  EXPECT_TRUE(options.return_state);
  EXPECT_TRUE(options.stateful);
  EXPECT_EQ(options.dropout, 0.25f);
  nlohmann::json defaults = make_layer({{"type", "SimpleRNN"}, {"units", 2}})->config();
  EXPECT_EQ(defaults["return_state"], false);
  EXPECT_EQ(defaults["stateful"], false);
  EXPECT_EQ(defaults["dropout"], 0.0);
}

TEST(SimpleRNN, RejectsBadStatesMasksAndBatchesWithClearMessages) {
  Rng rng(27);
  SimpleRNN rnn({.units = 4, .return_sequences = true});
  rnn.build({5, 3}, rng);
  Tensor x({2, 5, 3});
  expect_error_message(
      [&] {
        rnn.set_initial_state({Tensor({2, 4}), Tensor({2, 4})});
      },
      "SimpleRNN(units=4): expected 1 initial state tensor (h), got 2");
  rnn.set_initial_state({Tensor({3, 4})});
  expect_error_message([&] { rnn.forward(x, Mode::Infer); },
                       "expected each initial state to be [2, 4] (batch, units), got [3, 4]");
  expect_error_message(
      [&] {
        rnn.set_mask(Tensor({2, 5, 1}));
      },
      "expected a mask [batch, steps], got [2, 5, 1]");
  expect_error_message(
      [&] {
        rnn.set_mask(Tensor({2, 5}, 0.5f));
      },
      "a mask holds 1 (data) or 0 (padding), got 0.5");
  rnn.set_mask(Tensor({2, 4}, 1.0f));
  expect_error_message([&] { rnn.forward(x, Mode::Infer); },
                       "expected a mask [2, 5] (batch, steps) for input [2, 5, 3], got [2, 4]");
  rnn.forward(x, Mode::Train);
  expect_error_message([&] { rnn.set_final_state_gradient({}); },
                       "expected 1 final state gradient, got 0");
  rnn.set_final_state_gradient({Tensor({2, 5})});
  expect_error_message(
      [&] {
        rnn.backward(Tensor({2, 5, 4}));
      },
      "expected each final state gradient to be [2, 4] (batch, units) as the final state, got [2, "
      "5]");
  // A wrong dy is reported, not used to index the mask, when masked outputs are zeroed.
  rnn.set_zero_output_for_mask(true);
  rnn.set_mask(Tensor({2, 5}, 1.0f));
  rnn.forward(x, Mode::Train);
  EXPECT_THROW(rnn.backward(Tensor({4, 7, 4})), ShapeError);
  rnn.step(Tensor({2, 3}));
  expect_error_message(
      [&] {
        rnn.step(Tensor({3, 3}));
      },
      "step() carries the state of 2 sequence(s), got a batch of 3");
  expect_error_message(
      [&] {
        rnn.step(Tensor({2, 5, 3}));
      },
      "step() takes one time step [batch, 3], got [2, 5, 3]");
  rnn.reset_states();
  EXPECT_NO_THROW(rnn.step(Tensor({3, 3})));

  SimpleRNN stateful({.units = 4, .stateful = true});
  stateful.build({5, 3}, rng);
  stateful.forward(x, Mode::Infer);
  expect_error_message(
      [&] {
        stateful.forward(Tensor({3, 5, 3}), Mode::Infer);
      },
      "stateful, and the batch size changed from 2 to 3");
  stateful.reset_states();
  EXPECT_NO_THROW(stateful.forward(Tensor({3, 5, 3}), Mode::Infer));
  expect_error_message([] { SimpleRNN({.units = 2, .dropout = 1.0f}); },
                       "SimpleRNN(units=2): dropout must be in [0, 1), got 1");
  expect_error_message(
      [] {
        make_layer({{"type", "SimpleRNN"}, {"units", 2}, {"stateful", 1}});
      },
      "SimpleRNN: argument 'stateful' must be true or false, got 1");
}

}  // namespace
}  // namespace nnkit
