#include "nnkit/layers/lstm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <tuple>
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

// Large enough to split batch × units over threads, and units wider than one parallel block.
INSTANTIATE_TEST_SUITE_P(Parallel, LSTMSizes,
                         ::testing::Values(Sizes{64, 3, 2, 80}, Sizes{16, 2, 3, 300}), sizes_name);

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
                                                  {"go_backwards", false}}));
}

TEST(LSTM, RejectsInputsThatAreNotSequences) {
  Rng rng(16);
  LSTM lstm({.units = 128});
  EXPECT_EQ(message_of<ShapeError>([&] { lstm.build({6}, rng); }),
            "LSTM(units=128): expected input [N, T, F] (batch, steps, features), got per-sample "
            "shape [N, 6]; give each sample a time axis, e.g. Reshape to [steps, features]");
  lstm.build({64, 6}, rng);
  EXPECT_EQ(message_of<ShapeError>([&] {
              lstm.forward(Tensor({32, 6}), Mode::Infer);
            }),
            "LSTM(units=128): expected input [N, T, F] = [N, 64, 6], got [32, 6]");
  EXPECT_CONTAINS(message_of<ShapeError>([&] {
                    lstm.forward(Tensor({2, 64, 5}), Mode::Infer);
                  }),
                  "expected input [N, T, F] = [N, 64, 6], got [2, 64, 5]");
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
                    make_layer({{"type", "LSTM"}, {"units", 2}, {"stateful", true}});
                  }),
                  "LSTM: unknown argument 'stateful'");
  EXPECT_CONTAINS(message_of<ValueError>([] { LSTM({.units = 2, .activation = "tanhh"}); }),
                  "LSTM(units=2): unknown activation 'tanhh'");
  EXPECT_CONTAINS(
      message_of<ValueError>([] { LSTM({.units = 2, .recurrent_activation = "softmax"}); }),
      "LSTM(units=2): softmax is not element-wise");
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

#ifdef __SANITIZE_ADDRESS__
constexpr double kLearningBudgetSeconds = 30.0;  // sanitizers slow everything several times
#else
constexpr double kLearningBudgetSeconds = 1.0;
#endif

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
  const auto start = std::chrono::steady_clock::now();
  Sequential model({.input_shape = {steps, 1}, .seed = 20});
  model.add(LSTM({.units = 16}));
  model.add(Dense({.units = 1}));
  model.compile(make_adam({.learning_rate = 0.01f}), make_loss("mse"));
  model.fit(x, y, {.epochs = 40, .batch_size = 32});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Predicting 0 gives the target's variance, (1/3)/6 ≈ 0.056.
  EXPECT_LT(model.evaluate(x_test, y_test).at("loss"), 1e-4);
  EXPECT_LT(seconds, kLearningBudgetSeconds);
}

}  // namespace
}  // namespace nnkit
