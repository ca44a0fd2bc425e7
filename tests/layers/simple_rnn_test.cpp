#include "nnkit/layers/simple_rnn.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers/registry.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_error_message;
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
        for (int64_t units : {1, 7, 33}) {
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
        make_layer({{"type", "SimpleRNN"}, {"units", 2}, {"dropout", 0.1}});
      },
      "SimpleRNN: unknown argument 'dropout'");
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

}  // namespace
}  // namespace nnkit
