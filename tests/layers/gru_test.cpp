#include "nnkit/layers/gru.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"
#include "nnkit/kernels/threads.h"
#include "nnkit/layers/dense.h"
#include "nnkit/layers/registry.h"
#include "nnkit/layers/simple_rnn.h"
#include "nnkit/model.h"
#include "scratch_dir.h"
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
void randomize_biases(GRU& layer, Rng& rng) {
  for (Param* p : layer.params()) {
    if (p->name.starts_with("bias")) {
      for (float& v : p->value) v = rng.uniform(-0.5f, 0.5f);
    }
  }
}

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// One unit, one feature, two steps, every weight and bias distinct: PyTorch's equations by hand.
TEST(GRU, ComputesPyTorchsGateEquations) {
  Rng rng(1);
  GRU gru({.units = 1, .return_sequences = true});
  gru.build({2, 1}, rng);
  std::vector<Param*> p = gru.params();
  ASSERT_EQ(p.size(), 4u);
  p[0]->value = Tensor({3, 1}, {0.5f, -0.4f, 0.9f});  // W_ir, W_iz, W_in
  p[1]->value = Tensor({3, 1}, {0.3f, 0.7f, -1.2f});  // W_hr, W_hz, W_hn
  p[2]->value = Tensor({3}, {0.1f, -0.2f, 0.05f});    // b_ir, b_iz, b_in
  p[3]->value = Tensor({3}, {-0.15f, 0.25f, 0.4f});   // b_hr, b_hz, b_hn
  const float x[] = {1.0f, -2.0f};
  float h = 0.0f, expected[2];
  for (int t = 0; t < 2; ++t) {
    float r = sigmoid(0.5f * x[t] + 0.1f + 0.3f * h - 0.15f);
    float z = sigmoid(-0.4f * x[t] - 0.2f + 0.7f * h + 0.25f);
    float n = std::tanh(0.9f * x[t] + 0.05f + r * (-1.2f * h + 0.4f));
    h = (1 - z) * n + z * h;
    expected[t] = h;
  }
  Tensor y = gru.forward(Tensor({1, 2, 1}, {x[0], x[1]}), Mode::Infer);
  ASSERT_EQ(y.shape(), (Shape{1, 2, 1}));
  EXPECT_NEAR(y[0], expected[0], 1e-6);
  EXPECT_NEAR(y[1], expected[1], 1e-6);
}

TEST(GRU, GoBackwardsProcessesTheLastStepFirstAndOutputsInThatOrder) {
  Rng rng(2);
  GRU forward({.units = 3, .return_sequences = true}),
      backward({.units = 3, .return_sequences = true, .go_backwards = true});
  forward.build({4, 2}, rng);
  backward.build({4, 2}, rng);
  randomize_biases(forward, rng);
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
  GRUOptions options;
  int64_t batch = 2;
};

class GRUGradient : public ::testing::TestWithParam<GradientCase> {};

TEST_P(GRUGradient, BackwardMatchesFiniteDifferences) {
  Rng rng(3);
  GRU gru(GetParam().options);
  gru.build({12, 3}, rng);
  randomize_biases(gru, rng);
  expect_layer_gradients(gru, random_tensor({GetParam().batch, 12, 3}, rng));
}

INSTANTIATE_TEST_SUITE_P(
    TwelveSteps, GRUGradient,
    ::testing::Values(GradientCase{"LastOutput", {.units = 4}},
                      GradientCase{"ReturnSequences", {.units = 4, .return_sequences = true}},
                      GradientCase{"GoBackwards", {.units = 4, .go_backwards = true}},
                      GradientCase{"GoBackwardsReturnSequences",
                                   {.units = 4, .return_sequences = true, .go_backwards = true}},
                      GradientCase{"WithoutBias", {.units = 4, .use_bias = false}},
                      GradientCase{"BatchOne", {.units = 4, .return_sequences = true}, 1},
                      // Derivatives that read the pre-activations, which are then kept.
                      GradientCase{"SwishAndSoftplus",
                                   {.units = 4,
                                    .activation = "swish",
                                    .recurrent_activation = "softplus",
                                    .return_sequences = true}}),
    [](const auto& param_info) { return param_info.param.name; });

// The fused path against the plain reference loops, forward and backward, on awkward sizes.
TEST(GRU, MatchesTheReferenceOnAwkwardSizes) {
  Rng rng(5);
  for (int64_t batch : {1, 3}) {
    // 17 steps: a batch-1 forward of 16 or more runs its products on a packed copy of W_hh.
    for (int64_t steps : {1, 5, 17}) {
      for (int64_t features : {1, 6}) {
        for (int64_t units : {1, 7, 33}) {
          for (int variant = 0; variant < 4; ++variant) {
            const bool sequences = variant & 1, backwards = variant & 2;
            SCOPED_TRACE(::testing::Message()
                         << "batch " << batch << ", steps " << steps << ", features " << features
                         << ", units " << units << ", return_sequences " << sequences
                         << ", go_backwards " << backwards);
            GRU gru({.units = units,
                     // hard_sigmoid's derivative reads the kept pre-activations.
                     .recurrent_activation = units == 33 ? "hard_sigmoid" : "sigmoid",
                     .use_bias = units != 7,
                     .return_sequences = sequences,
                     .go_backwards = backwards});
            gru.build({steps, features}, rng);
            randomize_biases(gru, rng);
            Tensor x = random_tensor({batch, steps, features}, rng);
            Tensor y = gru.forward(x, Mode::Train), expected = gru.forward_reference(x);
            ASSERT_EQ(y.shape(), expected.shape());
            EXPECT_LT(relative_error(values(y), values(expected)), 1e-5);

            Tensor dy = random_tensor(y.shape(), rng);
            gru.zero_grad();
            Tensor dx = gru.backward(dy);
            std::vector<std::vector<double>> grads;
            for (Param* p : gru.params()) grads.push_back(values(p->grad));
            gru.zero_grad();
            Tensor dx_expected = gru.backward_reference(x, dy);
            ASSERT_EQ(dx.shape(), dx_expected.shape());
            EXPECT_LT(relative_error(values(dx), values(dx_expected)), 1e-5);
            for (std::size_t i = 0; i < grads.size(); ++i) {
              EXPECT_LT(relative_error(grads[i], values(gru.params()[i]->grad)), 1e-5)
                  << gru.params()[i]->name;
            }
          }
        }
      }
    }
  }
}

// Large enough (batch · 3·units > 2^15) that the gate passes split over threads.
TEST(GRU, MatchesTheReferenceWhenTheGatePassRunsInParallel) {
  Rng rng(6);
  GRU gru({.units = 200, .return_sequences = true});
  gru.build({3, 5}, rng);
  randomize_biases(gru, rng);
  Tensor x = random_tensor({64, 3, 5}, rng);
  Tensor y = gru.forward(x, Mode::Train);
  EXPECT_LT(relative_error(values(y), values(gru.forward_reference(x))), 1e-5);
  Tensor dy = random_tensor(y.shape(), rng);
  gru.zero_grad();
  Tensor dx = gru.backward(dy);
  std::vector<double> dw_hh = values(gru.params()[1]->grad);
  gru.zero_grad();
  EXPECT_LT(relative_error(values(dx), values(gru.backward_reference(x, dy))), 1e-5);
  EXPECT_LT(relative_error(dw_hh, values(gru.params()[1]->grad)), 1e-5);
}

TEST(GRU, ReusesItsBuffersAcrossBatchShapes) {
  Rng rng(7);
  GRU gru({.units = 5, .return_sequences = true});
  gru.build({4, 3}, rng);
  randomize_biases(gru, rng);
  // Batch and step counts change, then come back: each result must be the reference's.
  for (Shape shape : {Shape{2, 4, 3}, Shape{3, 4, 3}, Shape{3, 2, 3}, Shape{2, 4, 3}}) {
    Tensor x = random_tensor(shape, rng);
    Tensor y = gru.forward(x, Mode::Train);
    EXPECT_LT(relative_error(values(y), values(gru.forward_reference(x))), 1e-5);
    gru.zero_grad();
    Tensor dx = gru.backward(y);
    EXPECT_LT(relative_error(values(dx), values(gru.backward_reference(x, y))), 1e-5);
  }
}

TEST(GRU, HasPyTorchParametersWithAnOrthogonalRecurrentWeight) {
  Rng rng(8);
  GRU gru({.units = 6});
  EXPECT_EQ(gru.build({10, 4}, rng), (Shape{6}));
  std::vector<Param*> p = gru.params();
  ASSERT_EQ(p.size(), 4u);
  const char* names[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  const Shape shapes[] = {{18, 4}, {18, 6}, {18}, {18}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(p[i]->name, names[i]);
    EXPECT_EQ(p[i]->value.shape(), shapes[i]);
  }
  EXPECT_EQ(gru.param_count(), 18 * 4 + 18 * 6 + 36);
  // weight_hh [3·units, units] as a whole has orthonormal columns (Keras's [units, 3·units]
  // recurrent kernel has orthonormal rows).
  const Tensor& w = p[1]->value;
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 6; ++j) {
      double dot = 0;
      for (int k = 0; k < 18; ++k) dot += double{w[k * 6 + i]} * w[k * 6 + j];
      EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5);
    }
  }
  GRU no_bias({.units = 6, .use_bias = false, .return_sequences = true});
  EXPECT_EQ(no_bias.build({10, 4}, rng), (Shape{10, 6}));
  EXPECT_EQ(no_bias.params().size(), 2u);
}

TEST(GRU, ConfigRoundTripsThroughMakeLayer) {
  Rng rng(9);
  GRU gru({.units = 5,
           .activation = "softsign",
           .recurrent_activation = "hard_sigmoid",
           .use_bias = false,
           .return_sequences = true,
           .go_backwards = true,
           .recurrent_initializer = {.name = "glorot_normal"}});
  nlohmann::json config = gru.config();
  EXPECT_EQ(config["type"], "GRU");
  EXPECT_EQ(config["recurrent_activation"], "hard_sigmoid");
  EXPECT_EQ(config["recurrent_initializer"], "glorot_normal");
  std::unique_ptr<Layer> rebuilt = make_layer(config);
  EXPECT_EQ(rebuilt->config(), config);
  gru.build({3, 2}, rng);
  rebuilt->build({3, 2}, rng);
  for (std::size_t i = 0; i < gru.params().size(); ++i) {
    rebuilt->params()[i]->value = gru.params()[i]->value;
  }
  Tensor x = random_tensor({2, 3, 2}, rng);
  EXPECT_EQ(rebuilt->forward(x, Mode::Infer).to_vector(), gru.forward(x, Mode::Infer).to_vector());
  nlohmann::json defaults = make_layer({{"type", "GRU"}, {"units", 2}})->config();
  EXPECT_EQ(defaults["activation"], "tanh");
  EXPECT_EQ(defaults["recurrent_activation"], "sigmoid");
  EXPECT_EQ(defaults["use_bias"], true);
  EXPECT_EQ(defaults["return_sequences"], false);
  EXPECT_EQ(defaults["go_backwards"], false);
  EXPECT_EQ(defaults["kernel_initializer"], "glorot_uniform");
  EXPECT_EQ(defaults["recurrent_initializer"], "orthogonal");
  EXPECT_EQ(defaults["bias_initializer"], "zeros");
  // Keras's reset_after=True is the form computed here.
  EXPECT_EQ(make_layer({{"type", "GRU"}, {"units", 2}, {"reset_after", true}})->config(), defaults);
}

TEST(GRU, RejectsBadInputsAndOptionsWithClearMessages) {
  Rng rng(10);
  GRU gru({.units = 4});
  expect_error_message([&] { gru.build({3}, rng); },
                       "GRU(units=4): expected input [N, T, F] (batch, time steps, features), "
                       "got per-sample shape [N, 3]");
  gru.build({5, 3}, rng);
  EXPECT_THROW(gru.forward(Tensor({2, 3}), Mode::Infer), ShapeError);
  expect_error_message(
      [&] {
        gru.forward(Tensor({2, 3}), Mode::Infer);
      },
      "GRU(units=4): expected input [N, T, 3] (batch, time steps, features), "
      "got [2, 3]");
  expect_error_message([&] { gru.backward(Tensor({2, 4})); }, "needs a forward(x, Mode::Train)");
  gru.forward(Tensor({2, 5, 3}), Mode::Train);
  EXPECT_NO_THROW(gru.backward(Tensor({2, 4})));
  EXPECT_THROW(gru.backward(Tensor({2, 5, 4})), ShapeError);
  gru.forward(Tensor({2, 5, 3}), Mode::Infer);  // drops the training cache
  EXPECT_THROW(gru.backward(Tensor({2, 4})), ValueError);
  EXPECT_THROW(GRU({.units = 0}), ValueError);
  expect_error_message([] { GRU({.units = -1}); }, "GRU: units must be positive, got -1");
  expect_error_message([] { GRU({.units = 2, .recurrent_activation = "sigmod"}); },
                       "GRU(units=2): unknown activation 'sigmod'");
  expect_error_message([] { GRU({.units = 2, .recurrent_activation = "softmax"}); },
                       "recurrent_activation softmax is not element-wise");
  expect_error_message(
      [] {
        make_layer({{"type", "GRU"}, {"units", 2}, {"recurrent_dropout", 0.1}});
      },
      "GRU: unknown argument 'recurrent_dropout'");
  expect_error_message(
      [] {
        make_layer({{"type", "GRU"}, {"units", 2}, {"return_sequence", true}});
      },
      "did you mean 'return_sequences'?");
  expect_error_message(
      [] {
        make_layer({{"type", "GRU"}, {"units", 2}, {"reset_after", false}});
      },
      "GRU: reset_after=false");
  expect_error_message(
      [] {
        make_layer({{"type", "GRU"}, {"units", "8"}});
      },
      "GRU: argument 'units' must be an integer");
}

// GRU(16) -> Dense(1) learns the mean of a noisy sequence of 16 steps: y = mean_t x_t with
// x_t = μ + noise, μ uniform in (−1, 1), noise standard normal (y's variance is about 0.35).
// Training the recurrent weights is what does it: the best linear readout of the untrained
// GRU's last h reaches an MSE of only 0.018 (least squares), 40 epochs of Adam reach 2e-4 in
// about 60 ms on one thread.
TEST(GRU, LearnsTheMeanOfANoisySequence) {
  const int64_t samples = 256, steps = 16;
  Rng rng(11);
  Tensor x({samples, steps, 1}), y({samples, 1});
  for (int64_t i = 0; i < samples; ++i) {
    const float mu = rng.uniform(-1.0f, 1.0f);
    double sum = 0;
    for (int64_t t = 0; t < steps; ++t) {
      x[i * steps + t] = mu + rng.normal();
      sum += x[i * steps + t];
    }
    y[i] = static_cast<float>(sum / steps);
  }
  Sequential model({.input_shape = {steps, 1}, .seed = 12});
  model.add(GRU({.units = 16}));
  model.add(Dense({.units = 1}));
  model.compile(make_adam({.learning_rate = 0.01f}), make_loss("mse"));
  History h = model.fit(x, y, {.epochs = 40, .batch_size = 32});
  EXPECT_LT(model.evaluate(x, y).at("loss"), 1e-3) << "first epoch's loss " << h["loss"].front();
}

// A stacked recurrent model saves its tensors under PyTorch's names and loads back to the same
// predictions.
TEST(GRU, StackedModelRoundTripsThroughAModelFile) {
  Sequential model({.input_shape = {6, 3}, .seed = 13});
  model.add(SimpleRNN({.units = 5, .return_sequences = true}));
  model.add(GRU({.units = 4, .go_backwards = true}));
  model.add(Dense({.units = 2}));
  std::vector<std::string> names;
  for (const auto& [name, param] : model.named_params()) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"layers.0.weight_ih", "layers.0.weight_hh",
                                      "layers.0.bias_ih", "layers.0.bias_hh", "layers.1.weight_ih",
                                      "layers.1.weight_hh", "layers.1.bias_ih", "layers.1.bias_hh",
                                      "layers.2.weight", "layers.2.bias"}));
  for (auto& [name, param] : model.named_params()) {
    if (name.find("bias") != std::string::npos) param->value.fill(0.1f);
  }
  testing::ScratchDir dir;
  save_model(dir.file("rnn.safetensors"), model);
  Sequential loaded = load_model(dir.file("rnn.safetensors"));
  Rng rng(14);
  Tensor x = random_tensor({3, 6, 3}, rng);
  EXPECT_EQ(loaded.predict(x).to_vector(), model.predict(x).to_vector());
  EXPECT_EQ(loaded.spec(), model.spec());
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

// [batch, steps] mask, batch >= 3: sample 0 whole, sample 1 padded at the end (its last 3
// steps), sample 2 padded in the middle (steps 2 and 3) and at the start (step 0); any further
// samples padded at random.
Tensor padding_mask(int64_t steps, int64_t batch = 3, Rng* rng = nullptr) {
  Tensor mask({batch, steps}, 1.0f);
  for (int64_t t = steps - 3; t < steps; ++t) mask[steps + t] = 0.0f;
  for (int64_t t : {0, 2, 3}) mask[2 * steps + t] = 0.0f;
  for (int64_t i = 3 * steps; i < mask.size(); ++i) mask[i] = rng->uniform() < 0.3f ? 0.0f : 1.0f;
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
  GRUOptions options;
  bool masked = false;
  bool zero_output_for_mask = false;
};
// gtest names a failing case by its name rather than a byte dump.
void PrintTo(const StateCase& c, std::ostream* os) { *os << c.name; }

class GRUStateGradient : public ::testing::TestWithParam<StateCase> {};

TEST_P(GRUStateGradient, BackwardMatchesFiniteDifferencesIncludingTheStates) {
  Rng rng(20);
  GRU gru(GetParam().options);
  gru.build({8, 3}, rng);
  randomize_biases(gru, rng);
  gru.set_zero_output_for_mask(GetParam().zero_output_for_mask);
  const Tensor mask = GetParam().masked ? padding_mask(8) : Tensor();
  expect_state_gradients(gru, random_tensor({3, 8, 3}, rng), rng, mask);
}

INSTANTIATE_TEST_SUITE_P(
    EightSteps, GRUStateGradient,
    ::testing::Values(
        StateCase{"LastOutput", {.units = 4}},
        StateCase{"ReturnSequences", {.units = 4, .return_sequences = true}},
        StateCase{"GoBackwards", {.units = 4, .go_backwards = true}},
        StateCase{"WithoutBias", {.units = 4, .use_bias = false}},
        StateCase{"SwishAndSoftplus",
                  {.units = 4,
                   .activation = "swish",
                   .recurrent_activation = "softplus",
                   .return_sequences = true}},
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
// gradient, on awkward sizes, and on one large enough for the parallel gate passes.
// On 2 threads from batch · 3H · H = 2^19 each thread runs the time loop on its own rows
// (src/layers/row_parts.h): batch 13 of 128 units splits into 6 and 7 rows, every variant.
TEST(GRU, MatchesTheReferenceWithStatesAndMasks) {
  const int before = num_threads();
  set_num_threads(2);
  Rng rng(21);
  struct Size {
    int64_t batch, units;
  };
  for (Size size : {Size{3, 1}, Size{3, 7}, Size{4, 33}, Size{64, 200}, Size{13, 128}}) {
    for (int variant = 0; variant < 8; ++variant) {
      const bool sequences = variant & 1, backwards = variant & 2, masked = variant & 4;
      if (size.units == 200 && variant != 5) continue;  // one large case is enough
      SCOPED_TRACE(::testing::Message()
                   << "batch " << size.batch << ", units " << size.units << ", return_sequences "
                   << sequences << ", go_backwards " << backwards << ", masked " << masked);
      GRU gru({.units = size.units,
               .recurrent_activation = size.units == 33 ? "hard_sigmoid" : "sigmoid",
               .use_bias = size.units != 7,
               .return_sequences = sequences,
               .go_backwards = backwards});
      gru.build({5, 6}, rng);
      randomize_biases(gru, rng);
      Tensor x = random_tensor({size.batch, 5, 6}, rng);
      const GRU::ReferenceState state{.initial = random_tensor({size.batch, size.units}, rng),
                                      .mask = masked ? padding_mask(5, size.batch, &rng) : Tensor(),
                                      .dfinal = random_tensor({size.batch, size.units}, rng)};
      gru.set_initial_state({state.initial});
      if (masked) gru.set_mask(state.mask);
      Tensor y = gru.forward(x, Mode::Train), expected = gru.forward_reference(x, state);
      EXPECT_LT(relative_error(values(y), values(expected)), 1e-5);
      Tensor dy = random_tensor(y.shape(), rng);
      gru.zero_grad();
      gru.set_final_state_gradient({state.dfinal});
      Tensor dx = gru.backward(dy);
      Tensor dh0 = gru.initial_state_gradient().at(0);
      std::vector<std::vector<double>> grads;
      for (Param* p : gru.params()) grads.push_back(values(p->grad));
      gru.zero_grad();
      Tensor dh0_expected;
      Tensor dx_expected = gru.backward_reference(x, dy, state, &dh0_expected);
      EXPECT_LT(relative_error(values(dx), values(dx_expected)), 1e-5);
      EXPECT_LT(relative_error(values(dh0), values(dh0_expected)), 1e-5);
      for (std::size_t i = 0; i < grads.size(); ++i) {
        EXPECT_LT(relative_error(grads[i], values(gru.params()[i]->grad)), 1e-5)
            << gru.params()[i]->name;
      }
    }
  }
  set_num_threads(before);
}

TEST(GRU, FinalStateIsTheLastProcessedStepsH) {
  Rng rng(22);
  GRU gru({.units = 4, .return_sequences = true});
  gru.build({5, 2}, rng);
  randomize_biases(gru, rng);
  Tensor x = random_tensor({2, 5, 2}, rng);
  Tensor y = gru.forward(x, Mode::Infer);
  ASSERT_EQ(gru.final_state().size(), 1u);
  EXPECT_EQ(gru.final_state()[0].to_vector(), steps_of(y, 4, 5).to_vector());
  // An initial state changes the output, and is used for the next forward only.
  Tensor h0 = random_tensor({2, 4}, rng);
  gru.set_initial_state({h0});
  EXPECT_NE(gru.forward(x, Mode::Infer).to_vector(), y.to_vector());
  EXPECT_EQ(gru.forward(x, Mode::Infer).to_vector(), y.to_vector());
  gru.set_initial_state({h0});
  EXPECT_LT(relative_error(values(gru.forward(x, Mode::Infer)),
                           values(gru.forward_reference(
                               x, {.initial = h0, .mask = Tensor(), .dfinal = Tensor()}))),
            1e-5);
}

// Padding at the end leaves the result of the data steps: the unpadded sequence's output, the
// last h repeated at padded steps (Keras); with go_backwards the padding is processed first
// and skipped.
TEST(GRU, MaskedOutputEqualsTheRunOnTheTruncatedSequence) {
  Rng rng(23);
  for (bool backwards : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "go_backwards " << backwards);
    GRU gru({.units = 5, .return_sequences = true, .go_backwards = backwards});
    gru.build({6, 3}, rng);
    randomize_biases(gru, rng);
    Tensor x = random_tensor({1, 6, 3}, rng), mask({1, 6}, {1, 1, 1, 1, 0, 0});
    gru.set_mask(mask);
    Tensor y = gru.forward(x, Mode::Infer);
    Tensor h = gru.final_state()[0];
    Tensor y_short = gru.forward(steps_of(x, 0, 4), Mode::Infer);
    expect_close(h, gru.final_state()[0]);
    if (!backwards) {
      expect_close(steps_of(y, 0, 4), y_short);
      for (int64_t t : {4, 5}) EXPECT_EQ(steps_of(y, t, t + 1).to_vector(), h.to_vector());
    } else {
      // Processed order: the two padded steps first, carrying h_{−1} = 0.
      EXPECT_EQ(steps_of(y, 0, 2).to_vector(), std::vector<float>(10, 0.0f));
      expect_close(steps_of(y, 2, 6), y_short);
    }
    // The mask was for one forward only.
    EXPECT_NE(gru.forward(x, Mode::Infer).to_vector(), y.to_vector());
  }
  // Without return_sequences, the output is the state at the last data step.
  GRU last({.units = 3});
  last.build({6, 2}, rng);
  randomize_biases(last, rng);
  Tensor x = random_tensor({3, 6, 2}, rng);
  last.set_mask(padding_mask(6));
  Tensor y = last.forward(x, Mode::Infer);
  EXPECT_EQ(y.to_vector(), last.final_state()[0].to_vector());
  Tensor y1 = last.forward(steps_of(x, 0, 3), Mode::Infer);
  for (int64_t u = 0; u < 3; ++u) EXPECT_NEAR(y[3 + u], y1[3 + u], 1e-6);  // sample 1: 3 steps
}

TEST(GRU, StatefulCarriesTheStateUntilResetStates) {
  Rng rng(24);
  GRU whole({.units = 4, .return_sequences = true}),
      halves({.units = 4, .return_sequences = true, .stateful = true});
  whole.build({8, 3}, rng);
  halves.build({4, 3}, rng);
  randomize_biases(whole, rng);
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

TEST(GRU, StepByStepEqualsTheWholeSequence) {
  Rng rng(25);
  GRU gru({.units = 6, .recurrent_activation = "hard_sigmoid", .return_sequences = true});
  gru.build({7, 3}, rng);
  randomize_biases(gru, rng);
  Tensor x = random_tensor({2, 7, 3}, rng);
  Tensor y = gru.forward(x, Mode::Train);
  EXPECT_TRUE(gru.stream_state().empty());
  for (int round = 0; round < 2; ++round) {
    for (int64_t t = 0; t < 7; ++t) {
      Tensor h = gru.step(steps_of(x, t, t + 1).reshaped({2, 3}));
      ASSERT_EQ(h.shape(), (Shape{2, 6}));
      SCOPED_TRACE(::testing::Message() << "step " << t);
      expect_close(h, steps_of(y, t, t + 1));
    }
    // The stream's state is the whole sequence's final state (up to rounding: step() runs
    // its own products on a batch of streams).
    expect_close(gru.stream_state().at(0), gru.final_state().at(0));
    gru.reset_states();  // the second round starts again from zeros
  }
  // step() ran in inference mode: the Train forward's cache is gone.
  EXPECT_THROW(gru.backward(y), ValueError);
}

// At batch 1 step() has its own path (packed weights kept across the stream), for the fused
// default activations and the general ones, with and without biases.
TEST(GRU, BatchOneStepsEqualTheWholeSequence) {
  Rng rng(27);
  for (const auto& [gate, bias] : {std::pair<std::string, bool>{"sigmoid", true},
                                   {"hard_sigmoid", true},
                                   {"sigmoid", false}}) {
    SCOPED_TRACE(gate + (bias ? " with biases" : " without biases"));
    GRU gru(
        {.units = 21, .recurrent_activation = gate, .use_bias = bias, .return_sequences = true});
    gru.build({6, 4}, rng);
    if (bias) randomize_biases(gru, rng);
    Tensor x = random_tensor({1, 6, 4}, rng);
    Tensor y = gru.forward(x, Mode::Infer);
    for (int round = 0; round < 2; ++round) {
      for (int64_t t = 0; t < 6; ++t) {
        SCOPED_TRACE(::testing::Message() << "round " << round << " step " << t);
        expect_close(gru.step(steps_of(x, t, t + 1).reshaped({1, 4})), steps_of(y, t, t + 1));
      }
      gru.reset_states();
    }
  }
}

// A batch of streams steps on W_ihᵀ and W_hhᵀ kept across the stream, two GEMMs and the gate
// pass: fused and general activations, with and without biases, and rows split over 2 threads
// (batch 13 of 256 units).
TEST(GRU, BatchesOfStreamsStepLikeTheWholeSequence) {
  const int before = num_threads();
  set_num_threads(2);
  Rng rng(29);
  struct Case {
    std::string gate;
    bool bias;
    int64_t batch, units;
  };
  for (const Case& c : {Case{"sigmoid", true, 3, 21}, Case{"hard_sigmoid", true, 4, 10},
                        Case{"sigmoid", false, 2, 7}, Case{"sigmoid", true, 13, 256}}) {
    SCOPED_TRACE(fmt::format("{} use_bias={} batch={} units={}", c.gate, c.bias, c.batch, c.units));
    GRU gru({.units = c.units,
             .recurrent_activation = c.gate,
             .use_bias = c.bias,
             .return_sequences = true});
    gru.build({5, 4}, rng);
    if (c.bias) randomize_biases(gru, rng);
    Tensor x = random_tensor({c.batch, 5, 4}, rng);
    Tensor y = gru.forward(x, Mode::Infer);
    for (int round = 0; round < 2; ++round) {
      for (int64_t t = 0; t < 5; ++t) {
        SCOPED_TRACE(::testing::Message() << "round " << round << " step " << t);
        expect_close(gru.step(steps_of(x, t, t + 1).reshaped({c.batch, 4})), steps_of(y, t, t + 1));
      }
      gru.reset_states();
    }
  }
  set_num_threads(before);
}

// Weights written through params() mid-stream are the ones the next step uses; a write
// through a kept Param* shows from the next reset_states(). At batch 1 (the packed copy) and
// for a batch of streams (the transposed copy).
TEST(GRU, StepUsesTheWeightsWrittenThroughParams) {
  Rng rng(28);
  for (const int64_t batch : {1, 3}) {
    SCOPED_TRACE(::testing::Message() << "batch " << batch);
    GRU gru({.units = 9, .return_sequences = true});
    gru.build({4, 3}, rng);
    Tensor x = random_tensor({batch, 4, 3}, rng);
    auto x_at = [&](int64_t t) { return steps_of(x, t, t + 1).reshaped({batch, 3}); };
    gru.step(x_at(0));
    gru.step(x_at(1));
    const Tensor state = gru.stream_state()[0];
    for (Param* p : gru.params()) {
      for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] = 0.5f * p->value[i] + 0.01f;
    }
    Tensor next = gru.step(x_at(2));
    gru.set_initial_state({state});
    expect_close(next, gru.forward(steps_of(x, 2, 3), Mode::Infer));
    Param* weight_hh = gru.params()[1];
    gru.step(x_at(3));
    for (int64_t i = 0; i < weight_hh->value.size(); ++i) weight_hh->value[i] *= -1.0f;
    gru.reset_states();
    Tensor y = gru.forward(x, Mode::Infer);
    for (int64_t t = 0; t < 4; ++t) expect_close(gru.step(x_at(t)), steps_of(y, t, t + 1));
  }
}

TEST(GRU, DropoutDropsWholeInputFeaturesInTrainingOnly) {
  Rng rng(26);
  GRU gru({.units = 5, .return_sequences = true, .dropout = 0.5f});
  gru.build({4, 8}, rng);
  randomize_biases(gru, rng);
  Tensor x = random_tensor({4, 4, 8}, rng);
  Tensor y_infer = gru.forward(x, Mode::Infer);
  EXPECT_EQ(gru.forward(x, Mode::Infer).to_vector(), y_infer.to_vector());
  EXPECT_LT(relative_error(values(y_infer), values(gru.forward_reference(x))), 1e-5);
  Tensor y = gru.forward(x, Mode::Train);
  EXPECT_NE(y.to_vector(), y_infer.to_vector());
  Tensor dx = gru.backward(random_tensor(y.shape(), rng));
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
  EXPECT_LT(relative_error(values(y), values(gru.forward(kept_x, Mode::Infer))), 1e-6);
  // A new mask every training forward.
  EXPECT_NE(gru.forward(x, Mode::Train).to_vector(), y.to_vector());
}

TEST(GRU, ConfigRoundTripsTheRecurrentArguments) {
  GRU gru({.units = 3, .return_state = true, .stateful = true, .dropout = 0.25f});
  nlohmann::json config = gru.config();
  EXPECT_EQ(config["return_state"], true);
  EXPECT_EQ(config["stateful"], true);
  EXPECT_EQ(config["dropout"], 0.25);
  std::unique_ptr<Layer> rebuilt = make_layer(config);
  EXPECT_EQ(rebuilt->config(), config);
  const auto& options = dynamic_cast<GRU&>(*rebuilt).options();
  EXPECT_TRUE(options.return_state);
  EXPECT_TRUE(options.stateful);
  EXPECT_EQ(options.dropout, 0.25f);
  nlohmann::json defaults = make_layer({{"type", "GRU"}, {"units", 2}})->config();
  EXPECT_EQ(defaults["return_state"], false);
  EXPECT_EQ(defaults["stateful"], false);
  EXPECT_EQ(defaults["dropout"], 0.0);
}

TEST(GRU, RejectsBadStatesMasksAndBatchesWithClearMessages) {
  Rng rng(27);
  GRU gru({.units = 4, .return_sequences = true});
  gru.build({5, 3}, rng);
  Tensor x({2, 5, 3});
  expect_error_message([&] { gru.set_initial_state({}); },
                       "GRU(units=4): expected 1 initial state tensor (h), got 0");
  gru.set_initial_state({Tensor({2, 3})});
  expect_error_message([&] { gru.forward(x, Mode::Infer); },
                       "expected each initial state to be [2, 4] (batch, units), got [2, 3]");
  expect_error_message([&] { gru.set_mask(Tensor({10})); },
                       "expected a mask [batch, steps], got [10]");
  expect_error_message(
      [&] {
        gru.set_mask(Tensor({2, 5}, 2.0f));
      },
      "a mask holds 1 (data) or 0 (padding), got 2");
  gru.set_mask(Tensor({3, 5}, 1.0f));
  expect_error_message([&] { gru.forward(x, Mode::Infer); },
                       "expected a mask [2, 5] (batch, steps) for input [2, 5, 3], got [3, 5]");
  gru.forward(x, Mode::Train);
  gru.set_final_state_gradient({Tensor({4})});
  expect_error_message(
      [&] {
        gru.backward(Tensor({2, 5, 4}));
      },
      "expected each final state gradient to be [2, 4] (batch, units) as the final state, got [4]");
  gru.step(Tensor({2, 3}));
  expect_error_message(
      [&] {
        gru.step(Tensor({1, 3}));
      },
      "step() carries the state of 2 sequence(s), got a batch of 1");

  GRU stateful({.units = 4, .stateful = true});
  stateful.build({5, 3}, rng);
  stateful.forward(x, Mode::Infer);
  expect_error_message(
      [&] {
        stateful.forward(Tensor({1, 5, 3}), Mode::Infer);
      },
      "stateful, and the batch size changed from 2 to 1");
  stateful.reset_states();
  EXPECT_NO_THROW(stateful.forward(Tensor({1, 5, 3}), Mode::Infer));
  expect_error_message([] { GRU({.units = 2, .dropout = -0.5f}); },
                       "GRU(units=2): dropout must be in [0, 1), got -0.5");
  expect_error_message(
      [] {
        make_layer({{"type", "GRU"}, {"units", 2}, {"dropout", "0.1"}});
      },
      "GRU: argument 'dropout' must be");
}

}  // namespace
}  // namespace nnkit
