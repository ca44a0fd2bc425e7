#include "nnkit/layers/lstm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"
#include "nnkit/kernels/threads.h"
#include "nnkit/layers/dense.h"
#include "nnkit/layers/registry.h"
#include "nnkit/model.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using nlohmann::json;
using testing::expect_layer_gradients;
using testing::random_tensor;
using testing::relative_error;

// The message of the exception f throws, or "" (failing the test) when it throws none.
template <typename E, typename F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception thrown";
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// The activations the reference knows, in double, and their derivatives at the pre-activation.
double reference_activation(const std::string& name, double v) {
  if (name == "sigmoid") return 1.0 / (1.0 + std::exp(-v));
  if (name == "tanh") return std::tanh(v);
  if (name == "hard_sigmoid") return std::clamp((v + 3.0) / 6.0, 0.0, 1.0);
  if (name == "softsign") return v / (1.0 + std::fabs(v));
  ADD_FAILURE() << "the reference has no activation " << name;
  return 0.0;
}

double reference_derivative(const std::string& name, double v) {
  if (name == "sigmoid") {
    double s = reference_activation(name, v);
    return s * (1.0 - s);
  }
  if (name == "tanh") return 1.0 - std::tanh(v) * std::tanh(v);
  if (name == "hard_sigmoid") return v > -3.0 && v < 3.0 ? 1.0 / 6.0 : 0.0;
  if (name == "softsign") return 1.0 / ((1.0 + std::fabs(v)) * (1.0 + std::fabs(v)));
  ADD_FAILURE() << "the reference has no activation " << name;
  return 0.0;
}

std::vector<double> to_double(const Tensor& t) { return {t.begin(), t.end()}; }

// The LSTM straight from its equations, in double: one sample and one step at a time, gate by
// gate and unit by unit, with the layer's weights. Slow and obviously right; the layer's fused
// time-major kernels are tested against it.
struct ReferenceLSTM {
  LSTMOptions options;
  int64_t features = 0;
  std::vector<double> w_ih, w_hh, b_ih, b_hh;  // PyTorch layouts; biases zeros without use_bias

  explicit ReferenceLSTM(LSTM& layer) : options(layer.options()) {
    std::vector<Param*> p = layer.params();
    features = p[0]->value.dim(1);
    w_ih = to_double(p[0]->value);
    w_hh = to_double(p[1]->value);
    const std::size_t gates = 4 * static_cast<std::size_t>(options.units);
    b_ih = options.use_bias ? to_double(p[2]->value) : std::vector<double>(gates, 0.0);
    b_hh = options.use_bias ? to_double(p[3]->value) : std::vector<double>(gates, 0.0);
  }

  // Per sample and step: the pre-activations z [4H], gates [4H], c and h after the step [H].
  struct Step {
    std::vector<double> z, gate, c, h;
  };

  std::vector<Step> run(const Tensor& x, int64_t n) const {
    const int64_t steps = x.dim(1), units = options.units;
    std::vector<double> h(units, 0.0), c(units, 0.0);
    std::vector<Step> trace;
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t t = options.go_backwards ? steps - 1 - s : s;
      const float* xt = x.data() + (n * steps + t) * features;
      Step st{std::vector<double>(4 * units), std::vector<double>(4 * units),
              std::vector<double>(units), std::vector<double>(units)};
      for (int64_t k = 0; k < 4 * units; ++k) {
        double sum = b_ih[k] + b_hh[k];
        for (int64_t p = 0; p < features; ++p) sum += w_ih[k * features + p] * xt[p];
        for (int64_t q = 0; q < units; ++q) sum += w_hh[k * units + q] * h[q];
        st.z[k] = sum;
        bool candidate = k / units == 2;  // g uses activation; i, f, o recurrent_activation
        st.gate[k] = reference_activation(
            candidate ? options.activation : options.recurrent_activation, sum);
      }
      for (int64_t j = 0; j < units; ++j) {
        double i = st.gate[j], f = st.gate[units + j], g = st.gate[2 * units + j],
               o = st.gate[3 * units + j];
        st.c[j] = f * c[j] + i * g;
        st.h[j] = o * reference_activation(options.activation, st.c[j]);
      }
      h = st.h;
      c = st.c;
      trace.push_back(std::move(st));
    }
    return trace;
  }

  // The output for x [N, T, F]: [N, H] or [N, T, H], flattened.
  std::vector<double> forward(const Tensor& x) const {
    std::vector<double> out;
    for (int64_t n = 0; n < x.dim(0); ++n) {
      std::vector<Step> trace = run(x, n);
      if (options.return_sequences) {
        for (const Step& st : trace) out.insert(out.end(), st.h.begin(), st.h.end());
      } else {
        out.insert(out.end(), trace.back().h.begin(), trace.back().h.end());
      }
    }
    return out;
  }

  struct Grads {
    std::vector<double> dx, dw_ih, dw_hh, db;  // db: the gradient of each bias (the same)
  };

  // Backpropagation through time of dy (the output's shape), sample by sample.
  Grads backward(const Tensor& x, const Tensor& dy) const {
    const int64_t steps = x.dim(1), units = options.units, gates = 4 * units;
    Grads d{std::vector<double>(x.size(), 0.0), std::vector<double>(w_ih.size(), 0.0),
            std::vector<double>(w_hh.size(), 0.0), std::vector<double>(gates, 0.0)};
    for (int64_t n = 0; n < x.dim(0); ++n) {
      std::vector<Step> trace = run(x, n);
      std::vector<double> dh_next(units, 0.0), dc_next(units, 0.0), dz(gates);
      for (int64_t s = steps - 1; s >= 0; --s) {
        const int64_t t = options.go_backwards ? steps - 1 - s : s;
        const Step& st = trace[s];
        std::vector<double> zero(units, 0.0);
        const std::vector<double>& c_prev = s > 0 ? trace[s - 1].c : zero;
        const std::vector<double>& h_prev = s > 0 ? trace[s - 1].h : zero;
        for (int64_t j = 0; j < units; ++j) {
          double dh = dh_next[j];
          if (options.return_sequences) {
            dh += dy[(n * steps + s) * units + j];
          } else if (s == steps - 1) {
            dh += dy[n * units + j];
          }
          double i = st.gate[j], f = st.gate[units + j], g = st.gate[2 * units + j],
                 o = st.gate[3 * units + j];
          double a = reference_activation(options.activation, st.c[j]);
          double dc = dc_next[j] + dh * o * reference_derivative(options.activation, st.c[j]);
          const std::string& rec = options.recurrent_activation;
          dz[j] = dc * g * reference_derivative(rec, st.z[j]);
          dz[units + j] = dc * c_prev[j] * reference_derivative(rec, st.z[units + j]);
          dz[2 * units + j] =
              dc * i * reference_derivative(options.activation, st.z[2 * units + j]);
          dz[3 * units + j] = dh * a * reference_derivative(rec, st.z[3 * units + j]);
          dc_next[j] = dc * f;
        }
        const float* xt = x.data() + (n * steps + t) * features;
        double* dxt = d.dx.data() + (n * steps + t) * features;
        std::fill(dh_next.begin(), dh_next.end(), 0.0);
        for (int64_t k = 0; k < gates; ++k) {
          d.db[k] += dz[k];
          for (int64_t p = 0; p < features; ++p) {
            d.dw_ih[k * features + p] += dz[k] * xt[p];
            dxt[p] += dz[k] * w_ih[k * features + p];
          }
          for (int64_t q = 0; q < units; ++q) {
            d.dw_hh[k * units + q] += dz[k] * h_prev[q];
            dh_next[q] += dz[k] * w_hh[k * units + q];
          }
        }
      }
    }
    return d;
  }
};

// A built LSTM with random biases too (the default zeros would hide bias mistakes).
LSTM make_lstm(LSTMOptions options, int64_t steps, int64_t features, Rng& rng) {
  LSTM lstm(std::move(options));
  lstm.build({steps, features}, rng);
  if (lstm.options().use_bias) {
    for (float& b : lstm.params()[2]->value) b = rng.uniform(-0.5f, 0.5f);
    for (float& b : lstm.params()[3]->value) b = rng.uniform(-0.5f, 0.5f);
  }
  return lstm;
}

void expect_close_to_reference(const Tensor& y, const std::vector<double>& expected,
                               double tolerance, const std::string& what) {
  ASSERT_EQ(static_cast<std::size_t>(y.size()), expected.size()) << what;
  double worst = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    worst = std::max(worst, std::fabs(y[static_cast<int64_t>(i)] - expected[i]));
  }
  EXPECT_LT(worst, tolerance) << what;
}

// Runs forward and backward on the layer and the reference and compares every output and
// gradient.
void expect_matches_reference(LSTM& lstm, const Tensor& x, Rng& rng, const std::string& what) {
  ReferenceLSTM reference(lstm);
  Tensor y = lstm.forward(x, Mode::Train);
  expect_close_to_reference(y, reference.forward(x), 2e-6, what + ", forward");
  Tensor dy = random_tensor(y.shape(), rng);
  lstm.zero_grad();
  Tensor dx = lstm.backward(dy);
  ReferenceLSTM::Grads expected = reference.backward(x, dy);
  std::vector<Param*> p = lstm.params();
  EXPECT_LT(relative_error(to_double(dx), expected.dx), 1e-5) << what << ", dx";
  EXPECT_LT(relative_error(to_double(p[0]->grad), expected.dw_ih), 1e-5) << what << ", weight_ih";
  EXPECT_LT(relative_error(to_double(p[1]->grad), expected.dw_hh), 1e-5) << what << ", weight_hh";
  if (lstm.options().use_bias) {
    EXPECT_LT(relative_error(to_double(p[2]->grad), expected.db), 1e-5) << what << ", bias_ih";
    EXPECT_LT(relative_error(to_double(p[3]->grad), expected.db), 1e-5) << what << ", bias_hh";
  }
}

TEST(LSTM, OneStepOneUnitMatchesTheEquations) {
  Rng rng(1);
  LSTM lstm({.units = 1});
  lstm.build({1, 1}, rng);
  std::vector<Param*> p = lstm.params();
  p[0]->value = Tensor({4, 1}, {0.5f, -1.0f, 2.0f, 1.5f});  // i, f, g, o
  p[2]->value = Tensor({4}, {0.1f, 0.2f, 0.3f, 0.4f});
  p[3]->value = Tensor({4}, {-0.1f, 0.0f, 0.1f, 0.0f});
  Tensor y = lstm.forward(Tensor({1, 1, 1}, {0.8f}), Mode::Infer);
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  // h_{-1} = c_{-1} = 0, so c = i·g and the forget gate does not matter.
  double i = sigmoid(0.4), g = std::tanh(1.6 + 0.4), o = sigmoid(1.2 + 0.4);
  ASSERT_EQ(y.shape(), (Shape{1, 1}));
  EXPECT_NEAR(y[0], o * std::tanh(i * g), 1e-6);
}

// Forward and backward against the reference on sizes that catch indexing and blocking slips.
class LSTMSizes : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, int64_t, int64_t>> {
};

TEST_P(LSTMSizes, MatchesTheReference) {
  const auto [batch, steps, features, units] = GetParam();
  Rng rng(2);
  for (bool sequences : {false, true}) {
    for (bool backwards : {false, true}) {
      LSTM lstm =
          make_lstm({.units = units, .return_sequences = sequences, .go_backwards = backwards},
                    steps, features, rng);
      Tensor x = random_tensor({batch, steps, features}, rng);
      expect_matches_reference(
          lstm, x, rng, fmt::format("return_sequences={} go_backwards={}", sequences, backwards));
    }
  }
}

using Sizes = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // N, T, F, H

std::string sizes_name(const ::testing::TestParamInfo<Sizes>& param_info) {
  const auto [batch, steps, features, units] = param_info.param;
  return fmt::format("N{}_T{}_F{}_H{}", batch, steps, features, units);
}

INSTANTIATE_TEST_SUITE_P(Awkward, LSTMSizes,
                         ::testing::Combine(::testing::Values(1, 3), ::testing::Values(1, 5),
                                            ::testing::Values(1, 6), ::testing::Values(1, 7, 33)),
                         sizes_name);

// A batch-1 forward of 16 steps or more runs its products on a packed copy of W_hh: whole and
// partial panels of it.
INSTANTIATE_TEST_SUITE_P(PackedBatchOne, LSTMSizes,
                         ::testing::Values(Sizes{1, 17, 6, 33}, Sizes{1, 20, 3, 130}), sizes_name);

// Large enough to split batch × units over threads, and units wider than one parallel block;
// the last has 320 rows (steps · batch), where the weight gradients are computed transposed.
INSTANTIATE_TEST_SUITE_P(Parallel, LSTMSizes,
                         ::testing::Values(Sizes{64, 3, 2, 80}, Sizes{16, 2, 3, 300},
                                           Sizes{40, 8, 3, 70}),
                         sizes_name);

TEST(LSTM, OtherActivationsMatchTheReference) {
  Rng rng(3);
  // hard_sigmoid's derivative reads the pre-activation: the layer keeps those too.
  LSTM lstm = make_lstm(
      {.units = 5, .activation = "softsign", .recurrent_activation = "hard_sigmoid"}, 4, 3, rng);
  expect_matches_reference(lstm, random_tensor({2, 4, 3}, rng), rng, "softsign, hard_sigmoid");
  LSTM swapped = make_lstm({.units = 4,
                            .activation = "sigmoid",
                            .recurrent_activation = "tanh",
                            .return_sequences = true},
                           3, 2, rng);
  expect_matches_reference(swapped, random_tensor({3, 3, 2}, rng), rng, "sigmoid, tanh");
}

TEST(LSTM, BackwardMatchesFiniteDifferences) {
  Rng rng(4);
  LSTM lstm = make_lstm({.units = 5}, 4, 3, rng);
  expect_layer_gradients(lstm, random_tensor({2, 4, 3}, rng));
}

TEST(LSTM, BackwardWithReturnSequencesMatchesFiniteDifferences) {
  Rng rng(5);
  LSTM lstm = make_lstm({.units = 4, .return_sequences = true}, 5, 3, rng);
  expect_layer_gradients(lstm, random_tensor({2, 5, 3}, rng));
}

TEST(LSTM, BackwardGoingBackwardsMatchesFiniteDifferences) {
  Rng rng(6);
  LSTM last = make_lstm({.units = 4, .go_backwards = true}, 4, 2, rng);
  expect_layer_gradients(last, random_tensor({3, 4, 2}, rng));
  LSTM sequences =
      make_lstm({.units = 3, .return_sequences = true, .go_backwards = true}, 4, 2, rng);
  expect_layer_gradients(sequences, random_tensor({2, 4, 2}, rng));
}

TEST(LSTM, BackwardWithoutBiasMatchesFiniteDifferences) {
  Rng rng(7);
  LSTM lstm = make_lstm({.units = 4, .use_bias = false}, 3, 3, rng);
  ASSERT_EQ(lstm.params().size(), 2u);
  expect_layer_gradients(lstm, random_tensor({2, 3, 3}, rng));
}

TEST(LSTM, BackwardOnBatchOneMatchesFiniteDifferences) {
  Rng rng(8);
  LSTM lstm = make_lstm({.units = 6}, 5, 6, rng);
  expect_layer_gradients(lstm, random_tensor({1, 5, 6}, rng));
}

TEST(LSTM, BackwardOverALongSequenceMatchesFiniteDifferences) {
  Rng rng(9);
  LSTM lstm = make_lstm({.units = 4, .return_sequences = true}, 12, 2, rng);
  // Small weights keep the pre-activations where float32 differences are accurate.
  for (Param* p : lstm.params()) {
    for (float& v : p->value) v *= 0.5f;
  }
  expect_layer_gradients(lstm, random_tensor({2, 12, 2}, rng));
}

TEST(LSTM, BackwardWithOtherActivationsMatchesFiniteDifferences) {
  Rng rng(10);
  LSTM lstm = make_lstm(
      {.units = 3, .activation = "softsign", .recurrent_activation = "hard_sigmoid"}, 3, 2, rng);
  expect_layer_gradients(lstm, random_tensor({2, 3, 2}, rng));
}

TEST(LSTM, GoingBackwardsIsTheForwardLayerOnTheReversedInput) {
  Rng rng(11);
  LSTM forwards = make_lstm({.units = 3, .return_sequences = true}, 4, 2, rng);
  LSTM backwards({.units = 3, .return_sequences = true, .go_backwards = true});
  backwards.build({4, 2}, rng);
  for (std::size_t i = 0; i < forwards.params().size(); ++i) {
    backwards.params()[i]->value = forwards.params()[i]->value;
  }
  Tensor x = random_tensor({2, 4, 2}, rng), reversed({2, 4, 2});
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t t = 0; t < 4; ++t) {
      for (int64_t f = 0; f < 2; ++f) reversed[(n * 4 + 3 - t) * 2 + f] = x[(n * 4 + t) * 2 + f];
    }
  }
  // Keras returns the sequence in processed order: step 0 of the output saw the last input.
  EXPECT_EQ(backwards.forward(x, Mode::Infer).to_vector(),
            forwards.forward(reversed, Mode::Infer).to_vector());
}

TEST(LSTM, ReusesItsBuffersAcrossBatchSizes) {
  Rng rng(12);
  LSTM lstm = make_lstm({.units = 5, .return_sequences = true}, 3, 2, rng);
  Tensor a = random_tensor({4, 3, 2}, rng), b = random_tensor({1, 3, 2}, rng);
  Tensor ya = lstm.forward(a, Mode::Infer);
  Tensor yb = lstm.forward(b, Mode::Train);
  EXPECT_EQ(lstm.forward(a, Mode::Infer).to_vector(), ya.to_vector());
  EXPECT_EQ(lstm.forward(b, Mode::Train).to_vector(), yb.to_vector());
  EXPECT_EQ(lstm.backward(Tensor({1, 3, 5}, 1.0f)).shape(), (Shape{1, 3, 2}));
}

// Small batches run their time loop on one thread; the caller's thread count comes back.
TEST(LSTM, LeavesTheThreadCountAsItFoundIt) {
  const int before = num_threads();
  set_num_threads(2);
  Rng rng(22);
  LSTM lstm = make_lstm({.units = 4}, 3, 2, rng);
  lstm.forward(random_tensor({1, 3, 2}, rng), Mode::Train);
  EXPECT_EQ(num_threads(), 2);
  lstm.backward(random_tensor({1, 4}, rng));
  EXPECT_EQ(num_threads(), 2);
  set_num_threads(before);
}

TEST(LSTM, BackwardAddsIntoGradients) {
  Rng rng(13);
  LSTM lstm = make_lstm({.units = 3}, 3, 2, rng);
  Tensor x = random_tensor({2, 3, 2}, rng), dy = random_tensor({2, 3}, rng);
  lstm.forward(x, Mode::Train);
  lstm.backward(dy);
  std::vector<std::vector<float>> once;
  for (Param* p : lstm.params()) once.push_back(p->grad.to_vector());
  lstm.backward(dy);
  for (std::size_t k = 0; k < once.size(); ++k) {
    for (std::size_t i = 0; i < once[k].size(); ++i) {
      EXPECT_FLOAT_EQ(lstm.params()[k]->grad[static_cast<int64_t>(i)], 2 * once[k][i])
          << lstm.params()[k]->name;
    }
  }
}

TEST(LSTM, SkipsTheInputGradientWhenNotNeeded) {
  Rng rng(14);
  LSTM lstm = make_lstm({.units = 3}, 3, 2, rng);
  Tensor x = random_tensor({2, 3, 2}, rng), dy = random_tensor({2, 3}, rng);
  lstm.forward(x, Mode::Train);
  lstm.backward(dy);
  std::vector<float> dw = lstm.params()[0]->grad.to_vector();
  lstm.zero_grad();
  lstm.set_input_gradient_needed(false);
  lstm.forward(x, Mode::Train);
  EXPECT_TRUE(lstm.backward(dy).empty());
  EXPECT_EQ(lstm.params()[0]->grad.to_vector(), dw);
}

TEST(LSTM, InitialisesWeightsInPyTorchLayoutWithAUnitForgetBias) {
  Rng rng(15);
  const int64_t units = 8, features = 6;
  LSTM lstm({.units = units});
  EXPECT_EQ(lstm.build({10, features}, rng), (Shape{units}));
  std::vector<Param*> p = lstm.params();
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0]->name, "weight_ih");
  EXPECT_EQ(p[0]->value.shape(), (Shape{4 * units, features}));
  EXPECT_EQ(p[1]->name, "weight_hh");
  EXPECT_EQ(p[1]->value.shape(), (Shape{4 * units, units}));
  EXPECT_EQ(p[2]->name, "bias_ih");
  EXPECT_EQ(p[3]->name, "bias_hh");
  EXPECT_EQ(lstm.param_count(), 4 * units * (features + units + 2));
  // bias_ih: zeros but the forget block, ones; bias_hh zeros: the sum is Keras's bias.
  for (int64_t k = 0; k < 4 * units; ++k) {
    EXPECT_EQ(p[2]->value[k], k / units == 1 ? 1.0f : 0.0f) << k;
    EXPECT_EQ(p[3]->value[k], 0.0f) << k;
  }
  // Glorot uniform over fan_in = F, fan_out = 4H, as Keras's kernel [F, 4H].
  const float limit = std::sqrt(6.0f / (features + 4 * units));
  float largest = 0.0f;
  for (float v : p[0]->value) largest = std::max(largest, std::fabs(v));
  EXPECT_LE(largest, limit);
  EXPECT_GT(largest, 0.8f * limit);
  // Orthogonal: the columns of weight_hh [4H, H] are orthonormal.
  const Tensor& w = p[1]->value;
  for (int64_t a = 0; a < units; ++a) {
    for (int64_t b = 0; b < units; ++b) {
      double dot = 0.0;
      for (int64_t k = 0; k < 4 * units; ++k) dot += double(w[k * units + a]) * w[k * units + b];
      EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-5);
    }
  }

  LSTM plain({.units = 2, .bias_initializer = {.name = "ones"}, .unit_forget_bias = false});
  plain.build({3, 1}, rng);
  for (float b : plain.params()[2]->value) EXPECT_EQ(b, 1.0f);
  for (float b : plain.params()[3]->value) EXPECT_EQ(b, 0.0f);
}

TEST(LSTM, ConfigRoundTripsThroughMakeLayer) {
  const json specs[] = {
      {{"type", "LSTM"}, {"units", 128}},
      {{"type", "LSTM"},
       {"units", 4},
       {"activation", "softsign"},
       {"recurrent_activation", "hard_sigmoid"},
       {"use_bias", false},
       {"kernel_initializer", "he_normal"},
       {"recurrent_initializer", {{"type", "orthogonal"}, {"gain", 0.5}}},
       {"bias_initializer", {{"type", "constant"}, {"value", 0.5}}},
       {"unit_forget_bias", false},
       {"return_sequences", true},
       {"go_backwards", true}},
      {{"type", "LSTM"},
       {"units", 3},
       {"return_state", true},
       {"stateful", true},
       {"dropout", 0.25}},
  };
  for (const json& spec : specs) {
    std::unique_ptr<Layer> layer = make_layer(spec);
    EXPECT_EQ(layer->type(), "LSTM");
    json config = layer->config();
    EXPECT_EQ(make_layer(config)->config(), config);
    for (const auto& [key, value] : spec.items()) EXPECT_EQ(config[key], value) << key;
  }
  EXPECT_EQ(make_layer(specs[0])->config(), (json{{"type", "LSTM"},
                                                  {"units", 128},
                                                  {"activation", "tanh"},
                                                  {"recurrent_activation", "sigmoid"},
                                                  {"use_bias", true},
                                                  {"kernel_initializer", "glorot_uniform"},
                                                  {"recurrent_initializer", "orthogonal"},
                                                  {"bias_initializer", "zeros"},
                                                  {"unit_forget_bias", true},
                                                  {"return_sequences", false},
                                                  {"return_state", false},
                                                  {"go_backwards", false},
                                                  {"stateful", false},
                                                  {"dropout", 0.0}}));
  // The shared arguments reach the layer.
  std::unique_ptr<Layer> layer = make_layer(specs[2]);
  const RecurrentArgs& args = dynamic_cast<LSTM&>(*layer).recurrent_args();
  EXPECT_TRUE(args.return_state);
  EXPECT_TRUE(args.stateful);
  EXPECT_FALSE(args.go_backwards);
  EXPECT_EQ(args.dropout, 0.25f);
}

TEST(LSTM, RejectsInputsThatAreNotSequences) {
  Rng rng(16);
  LSTM lstm({.units = 128});
  EXPECT_EQ(message_of<ShapeError>([&] { lstm.build({6}, rng); }),
            "LSTM(units=128): expected input [N, T, F] (batch, time steps, features), got "
            "per-sample shape [N, 6]");
  lstm.build({64, 6}, rng);
  EXPECT_EQ(message_of<ShapeError>([&] {
              lstm.forward(Tensor({32, 6}), Mode::Infer);
            }),
            "LSTM(units=128): expected input [N, T, 6] (batch, time steps, features), got [32, 6]");
  EXPECT_CONTAINS(message_of<ShapeError>([&] {
                    lstm.forward(Tensor({2, 64, 5}), Mode::Infer);
                  }),
                  "expected input [N, T, 6] (batch, time steps, features), got [2, 64, 5]");
  lstm.forward(Tensor({2, 64, 6}), Mode::Train);
  EXPECT_CONTAINS(message_of<ShapeError>([&] {
                    lstm.backward(Tensor({2, 64, 128}));
                  }),
                  "backward expected a gradient of shape [2, 128]");
}

TEST(LSTM, RejectsBadOptions) {
  EXPECT_EQ(message_of<ValueError>([] { LSTM({.units = 0}); }),
            "LSTM: units must be positive, got 0");
  EXPECT_CONTAINS(message_of<ValueError>([] {
                    make_layer({{"type", "LSTM"}, {"units", -3}});
                  }),
                  "LSTM: units must be positive, got -3");
  EXPECT_CONTAINS(message_of<ValueError>([] {
                    make_layer({{"type", "LSTM"}});
                  }),
                  "LSTM: missing required argument 'units'");
  EXPECT_CONTAINS(message_of<ValueError>([] {
                    make_layer({{"type", "LSTM"}, {"units", 2}, {"return_sequence", true}});
                  }),
                  "LSTM: unknown argument 'return_sequence'; did you mean 'return_sequences'?");
  EXPECT_CONTAINS(message_of<ValueError>([] {
                    make_layer({{"type", "LSTM"}, {"units", 2}, {"recurrent_dropout", 0.1}});
                  }),
                  "LSTM: unknown argument 'recurrent_dropout'");
  EXPECT_CONTAINS(message_of<ValueError>([] { LSTM({.units = 2, .dropout = 1.0f}); }),
                  "LSTM(units=2): dropout must be in [0, 1), got 1");
  EXPECT_CONTAINS(message_of<ValueError>([] {
                    make_layer({{"type", "LSTM"}, {"units", 2}, {"dropout", -0.5}});
                  }),
                  "dropout must be in [0, 1), got -0.5");
  EXPECT_CONTAINS(message_of<ValueError>([] { LSTM({.units = 2, .activation = "tanhh"}); }),
                  "LSTM(units=2): unknown activation 'tanhh'");
  EXPECT_CONTAINS(
      message_of<ValueError>([] { LSTM({.units = 2, .recurrent_activation = "softmax"}); }),
      "LSTM(units=2): recurrent_activation softmax is not element-wise");
}

TEST(LSTM, BackwardNeedsATrainingForward) {
  Rng rng(17);
  LSTM lstm({.units = 2});
  EXPECT_THROW(lstm.forward(Tensor({1, 3, 1}), Mode::Infer), ValueError);  // not built
  lstm.build({3, 1}, rng);
  EXPECT_THROW(lstm.backward(Tensor({1, 2})), ValueError);
  lstm.forward(Tensor({1, 3, 1}), Mode::Train);
  EXPECT_NO_THROW(lstm.backward(Tensor({1, 2})));
  lstm.forward(Tensor({1, 3, 1}), Mode::Infer);  // drops the training cache
  EXPECT_THROW(lstm.backward(Tensor({1, 2})), ValueError);
}

// DESIGN.md's flagship spec: the file holds layers.0.weight_ih etc. in PyTorch's layouts, and
// a model read back predicts the same.
TEST(LSTM, FlagshipSpecSavesAndLoads) {
  Sequential model = Sequential::from_spec(json::parse(R"({
    "input_shape": [64, 6],
    "layers": [{"type": "LSTM", "units": 128}, {"type": "Dense", "units": 1}],
    "loss": "mse", "optimizer": {"type": "adam", "learning_rate": 0.001}, "seed": 42})"));
  EXPECT_EQ(model.output_shape(), (Shape{1}));
  std::vector<std::pair<std::string, Shape>> names;
  for (const auto& [name, param] : model.named_params())
    names.emplace_back(name, param->value.shape());
  EXPECT_EQ(names, (std::vector<std::pair<std::string, Shape>>{{"layers.0.weight_ih", {512, 6}},
                                                               {"layers.0.weight_hh", {512, 128}},
                                                               {"layers.0.bias_ih", {512}},
                                                               {"layers.0.bias_hh", {512}},
                                                               {"layers.1.weight", {1, 128}},
                                                               {"layers.1.bias", {1}}}));
  Rng rng(21);
  Tensor x = random_tensor({3, 64, 6}, rng);
  Tensor before = model.predict(x);
  testing::ScratchDir dir;
  save_model(dir.file("lstm.safetensors"), model);
  Sequential loaded = load_model(dir.file("lstm.safetensors"));
  EXPECT_EQ(loaded.predict(x).to_vector(), before.to_vector());
}

// The mean of a noisy sequence: the LSTM must carry a running sum in its cell.
TEST(LSTM, LearnsTheMeanOfANoisySequence) {
  const int64_t samples = 512, steps = 6;
  auto make_data = [&](uint64_t seed, Tensor& x, Tensor& y) {
    Rng rng(seed);
    x = random_tensor({samples, steps, 1}, rng);
    y = Tensor({samples, 1});
    for (int64_t n = 0; n < samples; ++n) {
      for (int64_t t = 0; t < steps; ++t) y[n] += x[n * steps + t] / steps;
    }
  };
  Tensor x, y, x_test, y_test;
  make_data(18, x, y);
  make_data(19, x_test, y_test);
  Sequential model({.input_shape = {steps, 1}, .seed = 20});
  model.add(LSTM({.units = 16}));
  model.add(Dense({.units = 1}));
  model.compile(make_adam({.learning_rate = 0.01f}), make_loss("mse"));
  model.fit(x, y, {.epochs = 40, .batch_size = 32});
  // Predicting 0 gives the target's variance, (1/3)/6 ≈ 0.056.
  EXPECT_LT(model.evaluate(x_test, y_test).at("loss"), 1e-4);
}

// ---- State, masks, stateful, dropout and streaming (the Recurrent base) ----

// Random initial states h0, c0 [batch, units].
std::vector<Tensor> random_state(int64_t batch, int64_t units, Rng& rng) {
  return {random_tensor({batch, units}, rng, -0.8f, 0.8f),
          random_tensor({batch, units}, rng, -0.8f, 0.8f)};
}

// Central difference of loss() in t[i]. t is read again after each loss() (a rebuild may give
// the tensor new storage), so no reference into its data is held across the calls.
double central_difference(Tensor& t, int64_t i, float step, const std::function<double()>& loss) {
  const float saved = t[i];
  t[i] = saved + step;
  const double up = loss();
  t[i] = saved - step;
  const double down = loss();
  t[i] = saved;
  return (up - down) / (2.0 * step);
}

// What a state-aware gradient check feeds each forward.
struct StateCase {
  Tensor x = Tensor();
  std::vector<Tensor> initial = {};  // h0, c0, or empty: the layer's default
  Tensor mask = Tensor();            // [N, T], or empty
  bool final_gradient = false;       // add Σ r_h ⊙ h_T + Σ r_c ⊙ c_T to the loss
};

// The layer's gradients against central differences (in double, as the shared helper) of
// L = Σ r ⊙ y (+ the final-state terms): the input, every parameter and, when given, h0 and c0
// through initial_state_gradient(). before_forward runs before every forward: a dropout layer
// reseeds there so that each forward draws the same mask. The shared helper cannot set initial
// states, masks or final-state gradients, hence this local one.
void expect_state_gradients(LSTM& lstm, StateCase c,
                            const std::function<void()>& before_forward = {},
                            double tolerance = 1e-3) {
  const float step = 1e-2f;
  Rng rng(1234);
  auto run = [&](const Tensor& x, const std::vector<Tensor>& initial) {
    if (before_forward) before_forward();
    if (!initial.empty()) lstm.set_initial_state(initial);
    if (!c.mask.empty()) lstm.set_mask(c.mask);
    return lstm.forward(x, Mode::Train);
  };
  const Tensor y = run(c.x, c.initial);
  const Tensor r = random_tensor(y.shape(), rng);
  std::vector<Tensor> r_final;
  if (c.final_gradient) r_final = random_state(c.x.dim(0), lstm.units(), rng);
  auto loss_at = [&](const Tensor& x, const std::vector<Tensor>& initial) {
    const Tensor out = run(x, initial);
    double sum = 0.0;
    for (int64_t i = 0; i < out.size(); ++i) sum += double(r[i]) * out[i];
    for (std::size_t k = 0; k < r_final.size(); ++k) {
      const Tensor& state = lstm.final_state()[k];
      for (int64_t i = 0; i < state.size(); ++i) sum += double(r_final[k][i]) * state[i];
    }
    return sum;
  };

  // Analytic, copied out before the perturbed forwards overwrite anything.
  run(c.x, c.initial);
  lstm.zero_grad();
  if (c.final_gradient) lstm.set_final_state_gradient(r_final);
  const std::vector<double> dx = to_double(lstm.backward(r));
  std::vector<std::vector<double>> dparams;
  for (Param* p : lstm.params()) dparams.push_back(to_double(p->grad));
  std::vector<std::vector<double>> dinitial;
  for (const Tensor& g : lstm.initial_state_gradient()) dinitial.push_back(to_double(g));
  ASSERT_EQ(dinitial.size(), 2u);

  Tensor x = c.x;
  std::vector<double> numeric(x.size());
  for (int64_t i = 0; i < x.size(); ++i) {
    numeric[i] = central_difference(x, i, step, [&] { return loss_at(x, c.initial); });
  }
  EXPECT_LT(relative_error(dx, numeric), tolerance) << "gradient of the input";
  std::vector<Param*> params = lstm.params();
  for (std::size_t k = 0; k < params.size(); ++k) {
    numeric.assign(params[k]->value.size(), 0.0);
    for (int64_t i = 0; i < params[k]->value.size(); ++i) {
      numeric[i] =
          central_difference(params[k]->value, i, step, [&] { return loss_at(c.x, c.initial); });
    }
    EXPECT_LT(relative_error(dparams[k], numeric), tolerance) << "gradient of " << params[k]->name;
  }
  if (c.initial.empty()) return;
  std::vector<Tensor> initial = c.initial;
  const char* names[] = {"h0", "c0"};
  for (std::size_t k = 0; k < 2; ++k) {
    numeric.assign(initial[k].size(), 0.0);
    for (int64_t i = 0; i < initial[k].size(); ++i) {
      numeric[i] = central_difference(initial[k], i, step, [&] { return loss_at(c.x, initial); });
    }
    EXPECT_LT(relative_error(dinitial[k], numeric), tolerance) << "gradient of " << names[k];
  }
}

// [N, T] of 1s but where listed: {sample, step} pairs set to 0.
Tensor mask_with_padding(int64_t batch, int64_t steps,
                         const std::vector<std::pair<int64_t, int64_t>>& padding) {
  Tensor mask({batch, steps}, 1.0f);
  for (const auto& [n, t] : padding) mask[n * steps + t] = 0.0f;
  return mask;
}

TEST(LSTM, InitialStateAndFinalStateGradientsMatchFiniteDifferences) {
  Rng rng(30);
  for (bool sequences : {false, true}) {
    for (bool backwards : {false, true}) {
      SCOPED_TRACE(fmt::format("return_sequences={} go_backwards={}", sequences, backwards));
      LSTM lstm = make_lstm({.units = 4, .return_sequences = sequences, .go_backwards = backwards},
                            4, 3, rng);
      expect_state_gradients(lstm, {.x = random_tensor({2, 4, 3}, rng),
                                    .initial = random_state(2, 4, rng),
                                    .final_gradient = true});
    }
  }
  // Without bias, and one step only (step 0 reads h0 through W_hh).
  LSTM plain = make_lstm({.units = 3, .use_bias = false}, 1, 2, rng);
  expect_state_gradients(plain, {.x = random_tensor({3, 1, 2}, rng),
                                 .initial = random_state(3, 3, rng),
                                 .final_gradient = true});
}

TEST(LSTM, ZeroInitialStateIsTheDefault) {
  Rng rng(31);
  LSTM lstm = make_lstm({.units = 5, .return_sequences = true}, 3, 2, rng);
  Tensor x = random_tensor({2, 3, 2}, rng);
  Tensor y = lstm.forward(x, Mode::Infer);
  lstm.set_initial_state({Tensor({2, 5}), Tensor({2, 5})});
  EXPECT_EQ(lstm.forward(x, Mode::Infer).to_vector(), y.to_vector());
  // The initial state is for one forward only.
  lstm.set_initial_state(random_state(2, 5, rng));
  EXPECT_NE(lstm.forward(x, Mode::Infer).to_vector(), y.to_vector());
  EXPECT_EQ(lstm.forward(x, Mode::Infer).to_vector(), y.to_vector());
}

// Splitting a sequence and handing the final state on as the next initial state changes
// nothing; final_state() is h and c of the last processed step.
TEST(LSTM, FinalStateContinuesTheSequence) {
  Rng rng(32);
  LSTM lstm = make_lstm({.units = 6}, 7, 3, rng);
  Tensor x = random_tensor({3, 7, 3}, rng);
  Tensor y = lstm.forward(x, Mode::Infer);
  const std::vector<Tensor> whole = lstm.final_state();
  ASSERT_EQ(whole.size(), 2u);
  EXPECT_EQ(whole[0].to_vector(), y.to_vector());  // h_T is the output

  Tensor head({3, 4, 3}), tail({3, 3, 3});
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t t = 0; t < 7; ++t) {
      for (int64_t f = 0; f < 3; ++f) {
        float v = x[(n * 7 + t) * 3 + f];
        if (t < 4)
          head[(n * 4 + t) * 3 + f] = v;
        else
          tail[(n * 3 + t - 4) * 3 + f] = v;
      }
    }
  }
  lstm.forward(head, Mode::Infer);
  lstm.set_initial_state(lstm.final_state());
  Tensor y_split = lstm.forward(tail, Mode::Infer);
  expect_close_to_reference(y_split, to_double(y), 1e-6, "h");
  expect_close_to_reference(lstm.final_state()[1], to_double(whole[1]), 1e-6, "c");
}

// Masks: padded at the end, in the middle, at the start, and a sample that is all padding.
Tensor awkward_mask() {
  return mask_with_padding(
      4, 6,
      {{0, 4}, {0, 5}, {1, 2}, {1, 3}, {2, 0}, {3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}, {3, 5}});
}

// A masked run equals, sample by sample, the unmasked run on the sequence without its padded
// steps; with return_sequences a padded step repeats the previous output (zeros before any).
TEST(LSTM, MaskedRunEqualsTheRunWithoutThePadding) {
  Rng rng(33);
  const int64_t batch = 4, steps = 6, features = 3, units = 5;
  for (bool sequences : {false, true}) {
    for (bool backwards : {false, true}) {
      SCOPED_TRACE(fmt::format("return_sequences={} go_backwards={}", sequences, backwards));
      LSTM lstm =
          make_lstm({.units = units, .return_sequences = sequences, .go_backwards = backwards},
                    steps, features, rng);
      Tensor x = random_tensor({batch, steps, features}, rng), mask = awkward_mask();
      lstm.set_mask(mask);
      Tensor y = lstm.forward(x, Mode::Infer);
      for (int64_t n = 0; n < batch; ++n) {
        std::vector<float> kept;
        for (int64_t t = 0; t < steps; ++t) {
          if (mask[n * steps + t] == 0.0f) continue;
          kept.insert(kept.end(), x.data() + (n * steps + t) * features,
                      x.data() + (n * steps + t + 1) * features);
        }
        const int64_t length = static_cast<int64_t>(kept.size()) / features;
        Tensor y_short;  // [1, units] or [1, length, units]
        if (length > 0) y_short = lstm.forward(Tensor({1, length, features}, kept), Mode::Infer);
        if (!sequences) {
          for (int64_t j = 0; j < units; ++j) {
            const float expected = length > 0 ? y_short[j] : 0.0f;
            EXPECT_NEAR(y[n * units + j], expected, 1e-5) << "sample " << n;
          }
          continue;
        }
        int64_t done = 0;  // unmasked steps processed so far
        for (int64_t s = 0; s < steps; ++s) {
          const int64_t t = backwards ? steps - 1 - s : s;
          if (mask[n * steps + t] != 0.0f) ++done;
          for (int64_t j = 0; j < units; ++j) {
            const float expected = done > 0 ? y_short[(done - 1) * units + j] : 0.0f;
            EXPECT_NEAR(y[(n * steps + s) * units + j], expected, 1e-5)
                << "sample " << n << " step " << s;
          }
        }
      }
    }
  }
}

TEST(LSTM, MaskedGradientsMatchFiniteDifferences) {
  Rng rng(34);
  for (bool sequences : {false, true}) {
    for (bool backwards : {false, true}) {
      SCOPED_TRACE(fmt::format("return_sequences={} go_backwards={}", sequences, backwards));
      LSTM lstm = make_lstm({.units = 3, .return_sequences = sequences, .go_backwards = backwards},
                            6, 2, rng);
      expect_state_gradients(lstm, {.x = random_tensor({4, 6, 2}, rng),
                                    .initial = random_state(4, 3, rng),
                                    .mask = awkward_mask(),
                                    .final_gradient = true});
      expect_state_gradients(lstm, {.x = random_tensor({4, 6, 2}, rng), .mask = awkward_mask()});
    }
  }
}

TEST(LSTM, MaskedStepsGetNoInputGradientAndKeepTheState) {
  Rng rng(35);
  LSTM lstm = make_lstm({.units = 4, .return_sequences = true}, 6, 3, rng);
  Tensor x = random_tensor({4, 6, 3}, rng), mask = awkward_mask();
  std::vector<Tensor> initial = random_state(4, 4, rng);
  lstm.set_initial_state(initial);
  lstm.set_mask(mask);
  lstm.forward(x, Mode::Train);
  // Sample 3 is all padding: its final state is its initial state, exactly.
  for (int64_t j = 0; j < 4; ++j) {
    EXPECT_EQ(lstm.final_state()[0][3 * 4 + j], initial[0][3 * 4 + j]);
    EXPECT_EQ(lstm.final_state()[1][3 * 4 + j], initial[1][3 * 4 + j]);
  }
  lstm.set_final_state_gradient(random_state(4, 4, rng));
  Tensor dx = lstm.backward(random_tensor({4, 6, 4}, rng));
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t t = 0; t < 6; ++t) {
      for (int64_t f = 0; f < 3; ++f) {
        const float d = dx[(n * 6 + t) * 3 + f];
        if (mask[n * 6 + t] == 0.0f)
          EXPECT_EQ(d, 0.0f) << n << " " << t;
        else
          EXPECT_NE(d, 0.0f) << n << " " << t;
      }
    }
  }
  // The mask was for that forward only.
  Tensor y_unmasked = lstm.forward(x, Mode::Infer);
  LSTM twin = make_lstm({.units = 4, .return_sequences = true}, 6, 3, rng);
  for (std::size_t k = 0; k < twin.params().size(); ++k) {
    twin.params()[k]->value = lstm.params()[k]->value;
  }
  EXPECT_EQ(twin.forward(x, Mode::Infer).to_vector(), y_unmasked.to_vector());
}

// What Bidirectional asks for: masked steps output zeros, the state still carried through.
TEST(LSTM, ZeroOutputForMaskZeroesPaddedStepsOnly) {
  Rng rng(45);
  LSTM lstm = make_lstm({.units = 3, .return_sequences = true}, 6, 2, rng);
  Tensor x = random_tensor({4, 6, 2}, rng), mask = awkward_mask();
  lstm.set_mask(mask);
  Tensor carried = lstm.forward(x, Mode::Infer);
  lstm.set_zero_output_for_mask(true);
  lstm.set_mask(mask);
  Tensor zeroed = lstm.forward(x, Mode::Infer);
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t t = 0; t < 6; ++t) {
      for (int64_t j = 0; j < 3; ++j) {
        const int64_t at = (n * 6 + t) * 3 + j;
        EXPECT_EQ(zeroed[at], mask[n * 6 + t] == 0.0f ? 0.0f : carried[at]) << n << " " << t;
      }
    }
  }
  expect_state_gradients(
      lstm, {.x = x, .initial = random_state(4, 3, rng), .mask = mask, .final_gradient = true});
}

// From batch · 4H · H = 2^19 on 2 threads each thread runs the time loop on its own rows
// (src/layers/row_parts.h). With an odd batch (shares of 6 and 7 rows), initial states, a
// final-state gradient and padding in some rows, every output and gradient must equal the
// one-thread run's, which the tests above check against the reference.
TEST(LSTM, EachThreadOnItsOwnRowsEqualsOneThread) {
  const int before = num_threads();
  Rng rng(41);
  const int64_t batch = 13, steps = 5, features = 3, units = 128;
  for (int variant = 0; variant < 4; ++variant) {
    const bool sequences = variant & 1, backwards = variant & 2;
    SCOPED_TRACE(fmt::format("return_sequences={} go_backwards={}", sequences, backwards));
    LSTM lstm =
        make_lstm({.units = units, .return_sequences = sequences, .go_backwards = backwards}, steps,
                  features, rng);
    const Tensor x = random_tensor({batch, steps, features}, rng);
    const std::vector<Tensor> initial = random_state(batch, units, rng);
    const std::vector<Tensor> dfinal = random_state(batch, units, rng);
    // Rows 1 and 8 padded at the end, row 12 at the start, row 5 all padding.
    Tensor mask = mask_with_padding(
        batch, steps, {{1, 4}, {8, 3}, {8, 4}, {12, 0}, {5, 0}, {5, 1}, {5, 2}, {5, 3}, {5, 4}});
    const Tensor dy =
        random_tensor(sequences ? Shape{batch, steps, units} : Shape{batch, units}, rng);
    struct Run {
      Tensor y, dx;
      std::vector<Tensor> final_state, initial_grad, grads;
    };
    auto run = [&](int threads) {
      set_num_threads(threads);
      lstm.set_initial_state(initial);
      lstm.set_mask(mask);
      Run r;
      r.y = lstm.forward(x, Mode::Train);
      r.final_state = lstm.final_state();
      lstm.zero_grad();
      lstm.set_final_state_gradient(dfinal);
      r.dx = lstm.backward(dy);
      r.initial_grad = lstm.initial_state_gradient();
      for (Param* p : lstm.params()) r.grads.push_back(p->grad);
      return r;
    };
    const Run one = run(1), two = run(2);
    EXPECT_LT(relative_error(to_double(two.y), to_double(one.y)), 1e-5) << "y";
    EXPECT_LT(relative_error(to_double(two.dx), to_double(one.dx)), 1e-5) << "dx";
    for (int i = 0; i < 2; ++i) {
      EXPECT_LT(relative_error(to_double(two.final_state[i]), to_double(one.final_state[i])), 1e-5)
          << "final state " << i;
      EXPECT_LT(relative_error(to_double(two.initial_grad[i]), to_double(one.initial_grad[i])),
                1e-5)
          << "initial state gradient " << i;
    }
    for (std::size_t i = 0; i < one.grads.size(); ++i) {
      EXPECT_LT(relative_error(to_double(two.grads[i]), to_double(one.grads[i])), 1e-5)
          << lstm.params()[i]->name;
    }
  }
  set_num_threads(before);
}
TEST(LSTM, StatefulCarriesTheStateUntilReset) {
  Rng rng(36);
  LSTM lstm = make_lstm({.units = 5, .return_sequences = true, .stateful = true}, 3, 2, rng);
  Tensor x = random_tensor({2, 6, 2}, rng), first({2, 3, 2}), second({2, 3, 2});
  for (int64_t n = 0; n < 2; ++n) {
    std::copy_n(x.data() + n * 12, 6, first.data() + n * 6);
    std::copy_n(x.data() + n * 12 + 6, 6, second.data() + n * 6);
  }
  Tensor whole = lstm.forward(x, Mode::Infer);  // starts from zeros: nothing carried yet
  lstm.reset_states();
  Tensor y1 = lstm.forward(first, Mode::Infer);
  Tensor y2 = lstm.forward(second, Mode::Train);
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t t = 0; t < 6; ++t) {
      const Tensor& half = t < 3 ? y1 : y2;
      for (int64_t j = 0; j < 5; ++j) {
        EXPECT_NEAR(half[(n * 3 + t % 3) * 5 + j], whole[(n * 6 + t) * 5 + j], 1e-6);
      }
    }
  }
  // A training forward of a stateful layer has its backward, the carried state's gradient too.
  lstm.backward(random_tensor({2, 3, 5}, rng));
  EXPECT_EQ(lstm.initial_state_gradient().size(), 2u);
  EXPECT_EQ(message_of<ShapeError>([&] {
              lstm.forward(random_tensor({3, 3, 2}, rng), Mode::Infer);
            }),
            "LSTM(units=5): stateful, and the batch size changed from 2 to 3; sample i of a batch "
            "continues sample i of the previous one, so keep the batch size (one that divides the "
            "samples) or call reset_states()");
  lstm.reset_states();
  EXPECT_EQ(lstm.forward(first, Mode::Infer).to_vector(), y1.to_vector());
  // An explicit initial state wins over the carried one.
  lstm.set_initial_state({Tensor({2, 5}), Tensor({2, 5})});
  EXPECT_EQ(lstm.forward(first, Mode::Infer).to_vector(), y1.to_vector());
}

// step() over the steps of a sequence gives forward()'s outputs, up to the float rounding of
// differently shaped GEMMs.
TEST(LSTM, StepEqualsForwardOverTheSameSteps) {
  const int before = num_threads();
  set_num_threads(2);  // batches 13 and 16 of 200 and 300 units: rows split over 2 threads
  Rng rng(37);
  // Batch 1 runs each 32 units' cell pass as their panel of the product ends: one partial
  // block (7), two blocks with a padded one (45), four whole ones (128), and the general
  // (not fused) activations.
  for (const auto& [batch, units, bias, activation] :
       {std::tuple<int64_t, int64_t, bool, std::string>{1, 7, true, "tanh"},
        {1, 45, true, "tanh"},
        {1, 128, false, "tanh"},
        {1, 45, true, "relu"},
        {3, 33, true, "tanh"},
        {2, 4, false, "tanh"},
        {3, 33, true, "elu"},
        {13, 200, true, "tanh"},
        {16, 300, true, "tanh"}}) {
    SCOPED_TRACE(
        fmt::format("batch={} units={} use_bias={} activation={}", batch, units, bias, activation));
    const int64_t steps = 5, features = 6;
    LSTM lstm =
        make_lstm({.units = units,
                   .activation = activation,
                   .recurrent_activation = activation == "tanh" ? "sigmoid" : "hard_sigmoid",
                   .use_bias = bias,
                   .return_sequences = true},
                  steps, features, rng);
    Tensor x = random_tensor({batch, steps, features}, rng);
    Tensor y = lstm.forward(x, Mode::Infer);
    for (int round = 0; round < 2; ++round) {  // again after reset_states()
      for (int64_t t = 0; t < steps; ++t) {
        Tensor x_t({batch, features});
        for (int64_t n = 0; n < batch; ++n) {
          std::copy_n(x.data() + (n * steps + t) * features, features, x_t.data() + n * features);
        }
        Tensor h = lstm.step(x_t);
        ASSERT_EQ(h.shape(), (Shape{batch, units}));
        for (int64_t n = 0; n < batch; ++n) {
          for (int64_t j = 0; j < units; ++j) {
            EXPECT_NEAR(h[n * units + j], y[(n * steps + t) * units + j], 2e-6)
                << "round " << round << " step " << t;
          }
        }
      }
      ASSERT_EQ(lstm.stream_state().size(), 2u);
      lstm.forward(x, Mode::Infer);
      expect_close_to_reference(lstm.stream_state()[1], to_double(lstm.final_state()[1]), 2e-6,
                                "c");
      lstm.reset_states();
      EXPECT_TRUE(lstm.stream_state().empty());
    }
  }
  set_num_threads(before);
}

// step() runs on a copy of the weights kept across the stream (packed at batch 1, transposed
// for a batch of streams): weights written through params() (an optimizer step, a load)
// mid-stream are the ones the next step uses, and a write through a kept Param* shows from the
// next reset_states().
TEST(LSTM, StepUsesTheWeightsWrittenThroughParams) {
  Rng rng(39);
  const int64_t steps = 4, features = 3, units = 9;
  // Batch 1 (the packed copy) and a batch of streams (the transposed copy).
  for (const int64_t batch : {1, 3}) {
    SCOPED_TRACE(fmt::format("batch={}", batch));
    LSTM lstm = make_lstm({.units = units, .return_sequences = true}, steps, features, rng);
    Tensor x = random_tensor({batch, steps, features}, rng);
    auto x_at = [&](int64_t t) {
      Tensor x_t({batch, features});
      for (int64_t n = 0; n < batch; ++n)
        std::copy_n(x.data() + (n * steps + t) * features, features, x_t.data() + n * features);
      return x_t;
    };
    lstm.step(x_at(0));
    lstm.step(x_at(1));
    const std::vector<Tensor> state = lstm.stream_state();
    for (Param* p : lstm.params()) {
      for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] = 0.5f * p->value[i] + 0.01f;
    }
    // The next step with the new weights from the carried state: forward() on that one step.
    Tensor next = lstm.step(x_at(2));
    lstm.set_initial_state({state[0], state[1]});
    Tensor expected = lstm.forward(x_at(2).reshaped({batch, 1, features}), Mode::Infer);
    for (int64_t i = 0; i < batch * units; ++i) EXPECT_NEAR(next[i], expected[i], 2e-6) << i;
    // A Param* kept from before: its writes show from the next stream on.
    Param* weight_hh = lstm.params()[1];
    lstm.step(x_at(3));
    for (int64_t i = 0; i < weight_hh->value.size(); ++i) weight_hh->value[i] *= -1.0f;
    lstm.reset_states();
    Tensor y = lstm.forward(x, Mode::Infer);
    for (int64_t t = 0; t < steps; ++t) {
      Tensor h = lstm.step(x_at(t));
      for (int64_t n = 0; n < batch; ++n) {
        for (int64_t j = 0; j < units; ++j)
          EXPECT_NEAR(h[n * units + j], y[(n * steps + t) * units + j], 2e-6) << t << " " << j;
      }
    }
  }
}

// Half-precision step weights: step() computes with the weights rounded to half precision
// (equal to a float stream on weights rounded beforehand), which moves the reference model's
// outputs over 64 steps by less than 2e-4 (3.8e-5 here); batches of more than one stay in float.
TEST(LSTM, HalfPrecisionStepIsTheStepOnRoundedWeights) {
  if (!gemv_is_vectorized()) GTEST_SKIP() << "batch-1 step() runs in float without AVX-512";
  Rng rng(40);
  const int64_t steps = 64, features = 6, units = 128;
  LSTM half = make_lstm({.units = units}, steps, features, rng);
  LSTM exact = half, rounded = half;
  for (Param* p : rounded.params()) {  // the weights; the biases are added in float
    if (p->name.rfind("weight", 0) != 0) continue;
    for (int64_t i = 0; i < p->value.size(); ++i)
      p->value[i] = half_to_float(float_to_half(p->value[i]));
  }
  half.set_step_precision(StepPrecision::float16);
  EXPECT_EQ(half.step_precision(), StepPrecision::float16);
  Tensor x = random_tensor({steps, 1, features}, rng);
  double largest_change = 0.0;
  for (int64_t t = 0; t < steps; ++t) {
    Tensor x_t({1, features});
    std::copy_n(x.data() + t * features, features, x_t.data());
    Tensor h = half.step(x_t), h_rounded = rounded.step(x_t), h_exact = exact.step(x_t);
    for (int64_t j = 0; j < units; ++j) {
      ASSERT_NEAR(h[j], h_rounded[j], 2e-6) << t << " " << j;
      largest_change = std::max(largest_change, std::abs(double(h[j]) - h_exact[j]));
    }
  }
  RecordProperty("largest_change", fmt::format("{:.3g}", largest_change));
  EXPECT_GT(largest_change, 0.0);
  EXPECT_LT(largest_change, 2e-4);
  // Back to float: equal to the exact stream again.
  half.set_step_precision(StepPrecision::float32);
  half.reset_states();
  exact.reset_states();
  Tensor x_t = random_tensor({1, features}, rng);
  EXPECT_EQ(half.step(x_t).to_vector(), exact.step(x_t).to_vector());
  // A batch of two is not batch-1 streaming: float, whatever the setting.
  half.set_step_precision(StepPrecision::float16);
  half.reset_states();
  exact.reset_states();
  Tensor x2 = random_tensor({2, features}, rng);
  EXPECT_EQ(half.step(x2).to_vector(), exact.step(x2).to_vector());
}

TEST(LSTM, StepRejectsWhatItCannotStream) {
  Rng rng(38);
  LSTM lstm = make_lstm({.units = 4}, 3, 2, rng);
  EXPECT_CONTAINS(message_of<ShapeError>([&] {
                    lstm.step(Tensor({1, 3}));
                  }),
                  "LSTM(units=4): step() takes one time step [batch, 2], got [1, 3]");
  lstm.step(Tensor({2, 2}));
  EXPECT_CONTAINS(message_of<ShapeError>([&] {
                    lstm.step(Tensor({1, 2}));
                  }),
                  "step() carries the state of 2 sequence(s), got a batch of 1");
  lstm.reset_states();
  EXPECT_NO_THROW(lstm.step(Tensor({1, 2})));
  // A step drops the training cache, as an inference forward does.
  lstm.forward(Tensor({1, 3, 2}), Mode::Train);
  lstm.step(Tensor({1, 2}));
  EXPECT_THROW(lstm.backward(Tensor({1, 4})), ValueError);
  LSTM backwards = make_lstm({.units = 4, .go_backwards = true}, 3, 2, rng);
  EXPECT_CONTAINS(message_of<ValueError>([&] {
                    backwards.step(Tensor({1, 2}));
                  }),
                  "go_backwards reads a sequence last step first");
  LSTM unbuilt({.units = 4});
  EXPECT_THROW(unbuilt.step(Tensor({1, 2})), ValueError);
}

// Rebuilding from the same seed restores the dropout generator; the weights are put back.
void reseed(LSTM& lstm, const Shape& input, uint64_t seed) {
  std::vector<Tensor> values;
  for (Param* p : lstm.params()) values.push_back(p->value);
  Rng rng(seed);
  lstm.build(input, rng);
  for (std::size_t k = 0; k < values.size(); ++k) lstm.params()[k]->value = values[k];
}

TEST(LSTM, DropoutDropsInputFeaturesInTrainingOnly) {
  // Built from the same seed with and without dropout: the same weights (dropout splits its
  // generator off after them).
  Rng rng(39), same(39);
  LSTM lstm({.units = 4, .return_sequences = true, .dropout = 0.5f});
  lstm.build({5, 6}, rng);
  LSTM plain({.units = 4, .return_sequences = true});
  plain.build({5, 6}, same);
  for (std::size_t k = 0; k < plain.params().size(); ++k) {
    EXPECT_EQ(plain.params()[k]->value.to_vector(), lstm.params()[k]->value.to_vector());
  }
  Tensor x = random_tensor({3, 5, 6}, rng);
  Tensor y_infer = lstm.forward(x, Mode::Infer);
  EXPECT_EQ(y_infer.to_vector(), plain.forward(x, Mode::Infer).to_vector());
  Tensor y_train = lstm.forward(x, Mode::Train);
  EXPECT_NE(y_train.to_vector(), y_infer.to_vector());
  EXPECT_NE(lstm.forward(x, Mode::Train).to_vector(), y_train.to_vector());  // a new mask

  // Which (sample, feature) pairs this seed drops: moving the feature at every step changes
  // nothing when it is dropped. There the input gradient is exactly zero; elsewhere it is not.
  reseed(lstm, {5, 6}, 40);
  Tensor y = lstm.forward(x, Mode::Train);
  Tensor dx = lstm.backward(random_tensor(y.shape(), rng));
  int dropped = 0, kept = 0;
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t f = 0; f < 6; ++f) {
      Tensor moved = x;
      for (int64_t t = 0; t < 5; ++t) moved[(n * 5 + t) * 6 + f] += 1.0f;
      reseed(lstm, {5, 6}, 40);
      const bool is_dropped = lstm.forward(moved, Mode::Train).to_vector() == y.to_vector();
      (is_dropped ? dropped : kept) += 1;
      for (int64_t t = 0; t < 5; ++t) {
        const float d = dx[(n * 5 + t) * 6 + f];
        if (is_dropped)
          EXPECT_EQ(d, 0.0f) << "sample " << n << " feature " << f;
        else
          EXPECT_NE(d, 0.0f) << "sample " << n << " feature " << f;
      }
    }
  }
  EXPECT_GT(dropped, 0);
  EXPECT_GT(kept, 0);
}

TEST(LSTM, DropoutGradientsMatchFiniteDifferences) {
  Rng rng(41);
  LSTM lstm = make_lstm({.units = 3, .return_sequences = true, .dropout = 0.4f}, 4, 5, rng);
  expect_state_gradients(lstm,
                         {.x = random_tensor({2, 4, 5}, rng),
                          .initial = random_state(2, 3, rng),
                          .mask = mask_with_padding(2, 4, {{1, 3}}),
                          .final_gradient = true},
                         [&] {
                           reseed(lstm, {4, 5}, 42);
                         });
}

TEST(LSTM, TakesSequencesOfAnyLength) {
  Rng rng(43);
  LSTM lstm = make_lstm({.units = 3, .return_sequences = true}, 4, 2, rng);
  for (int64_t steps : {1, 4, 9}) {
    Tensor x = random_tensor({2, steps, 2}, rng);
    EXPECT_EQ(lstm.forward(x, Mode::Train).shape(), (Shape{2, steps, 3}));
    expect_matches_reference(lstm, x, rng, fmt::format("{} steps", steps));
  }
}

TEST(LSTM, SequentialRejectsReturnState) {
  Sequential model({.input_shape = {5, 2}});
  EXPECT_CONTAINS(
      message_of<ValueError>([&] { model.add(LSTM({.units = 3, .return_state = true})); }),
      "layer 0 (LSTM): return_state gives the output and the final states");
  EXPECT_CONTAINS(message_of<ValueError>([] {
                    Sequential::from_spec(json::parse(R"({"input_shape": [5, 2],
                      "layers": [{"type": "LSTM", "units": 3, "return_state": true}]})"));
                  }),
                  "layers[0]: layer 0 (LSTM): return_state");
}

TEST(LSTM, RejectsBadStatesAndMasks) {
  Rng rng(44);
  LSTM lstm = make_lstm({.units = 4}, 5, 2, rng);
  Tensor x = random_tensor({2, 5, 2}, rng);
  EXPECT_EQ(message_of<ShapeError>([&] {
              lstm.set_initial_state({Tensor({2, 4})});
            }),
            "LSTM(units=4): expected 2 initial state tensors (h and c), got 1");
  lstm.set_initial_state({Tensor({2, 4}), Tensor({3, 4})});
  EXPECT_EQ(message_of<ShapeError>([&] { lstm.forward(x, Mode::Infer); }),
            "LSTM(units=4): expected each initial state to be [2, 4] (batch, units), got [3, 4]");
  lstm.set_initial_state({Tensor({2, 5}), Tensor({2, 4})});
  EXPECT_CONTAINS(message_of<ShapeError>([&] { lstm.forward(x, Mode::Infer); }), "got [2, 5]");
  EXPECT_CONTAINS(message_of<ValueError>([&] {
                    lstm.set_mask(Tensor({2, 5}, 0.5f));
                  }),
                  "LSTM(units=4): a mask holds 1 (data) or 0 (padding), got 0.5");
  EXPECT_CONTAINS(message_of<ShapeError>([&] {
                    lstm.set_mask(Tensor({2, 5, 1}, 1.0f));
                  }),
                  "expected a mask [batch, steps], got [2, 5, 1]");
  lstm.set_mask(Tensor({2, 4}, 1.0f));
  EXPECT_CONTAINS(message_of<ShapeError>([&] { lstm.forward(x, Mode::Infer); }),
                  "expected a mask [2, 5] (batch, steps) for input [2, 5, 2], got [2, 4]");
  lstm.forward(x, Mode::Train);
  EXPECT_CONTAINS(message_of<ShapeError>([&] {
                    lstm.set_final_state_gradient({Tensor({2, 4})});
                  }),
                  "expected 2 final state gradients, got 1");
  lstm.set_final_state_gradient({Tensor({2, 4}), Tensor({4, 2})});
  EXPECT_CONTAINS(message_of<ShapeError>([&] {
                    lstm.backward(Tensor({2, 4}));
                  }),
                  "expected each final state gradient to be [2, 4] (batch, units) as the final "
                  "state, got [4, 2]");
}

}  // namespace
}  // namespace nnkit
