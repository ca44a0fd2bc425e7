// Sequential on sequences: masks through a model, truncated BPTT, streaming prediction,
// stateful layers, and gradient clipping on a long sequence.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradient_check.h"
#include "nlohmann/json.hpp"
#include "nnkit/error.h"
#include "nnkit/layers.h"
#include "nnkit/model.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_error_message;
using testing::random_tensor;

constexpr int64_t kFeatures = 3;

// A recurrent layer of each kind, by name, with the shared arguments.
std::unique_ptr<Layer> recurrent(const std::string& type, int64_t units,
                                 bool return_sequences = false, bool stateful = false) {
  return make_layer({{"type", type},
                     {"units", units},
                     {"return_sequences", return_sequences},
                     {"stateful", stateful}});
}

// Masking -> recurrent(5) -> Dense(2), built for `steps`.
Sequential masked_model(const std::string& type, int64_t steps, bool with_masking = true) {
  Sequential model({.input_shape = {steps, kFeatures}, .seed = 7});
  if (with_masking) model.add(Masking());
  model.add(recurrent(type, 5));
  model.add(Dense({.units = 2}));
  model.compile(make_sgd({.learning_rate = 0.5f}), make_loss("mse"));
  return model;
}

// x[n, :length] of a batch [N, T, F], as a batch of one [1, length, F].
Tensor head(const Tensor& x, int64_t n, int64_t length) {
  const int64_t steps = x.dim(1), features = x.dim(2);
  Tensor out({1, length, features});
  std::copy_n(x.data() + n * steps * features, length * features, out.data());
  return out;
}

// A batch of sequences of lengths `lengths`, padded with zeros at the end to the longest.
Tensor padded_sequences(const std::vector<int64_t>& lengths, int64_t steps, Rng& rng) {
  const auto batch = static_cast<int64_t>(lengths.size());
  Tensor x({batch, steps, kFeatures});
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t i = 0; i < lengths[n] * kFeatures; ++i) {
      x[n * steps * kFeatures + i] = rng.uniform(0.1f, 1.0f);
    }
  }
  return x;
}

void expect_close(const Tensor& got, const Tensor& want, double tolerance,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (int64_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tolerance) << what << " at " << i;
  }
}

class MaskedRecurrent : public ::testing::TestWithParam<std::string> {};

TEST_P(MaskedRecurrent, APaddedBatchPredictsEachSequenceAsIfAlone) {
  Rng rng(11);
  const std::vector<int64_t> lengths = {6, 4, 1};
  Tensor x = padded_sequences(lengths, 6, rng);
  Sequential padded = masked_model(GetParam(), 6);
  Tensor out = padded.predict(x);
  for (int64_t n = 0; n < 3; ++n) {
    Sequential alone = masked_model(GetParam(), lengths[n], false);
    alone.set_weights(padded.get_weights());
    Tensor want = alone.predict(head(x, n, lengths[n]));
    expect_close(out.slice_rows(n, n + 1), want, 1e-5, GetParam() + " sample " + std::to_string(n));
  }
}

TEST_P(MaskedRecurrent, BidirectionalLayersMaskBothDirections) {
  // Stacked: the first returns sequences, so the mask must reach the second, in input order.
  auto model = [&](int64_t steps, bool with_masking) {
    Sequential m({.input_shape = {steps, kFeatures}, .seed = 17});
    if (with_masking) m.add(Masking());
    m.add(
        make_layer({{"type", "Bidirectional"},
                    {"layer", {{"type", GetParam()}, {"units", 3}, {"return_sequences", true}}}}));
    m.add(make_layer({{"type", "Bidirectional"},
                      {"merge_mode", "sum"},
                      {"layer", {{"type", GetParam()}, {"units", 2}}}}));
    return m;
  };
  Rng rng(15);
  const std::vector<int64_t> lengths = {5, 2, 4};
  Tensor x = padded_sequences(lengths, 5, rng);
  Sequential padded = model(5, true);
  Tensor out = padded.predict(x);
  for (int64_t n = 0; n < 3; ++n) {
    Sequential alone = model(lengths[n], false);
    alone.set_weights(padded.get_weights());
    expect_close(out.slice_rows(n, n + 1), alone.predict(head(x, n, lengths[n])), 1e-5,
                 GetParam() + " sample " + std::to_string(n));
  }
}

TEST_P(MaskedRecurrent, APaddedBatchTrainsAsItsSequencesWouldAlone) {
  // One SGD step on the padded batch of two (loss: the mean of the two samples' losses) moves
  // the weights by the mean of the steps each sample alone would make.
  Rng rng(12);
  const std::vector<int64_t> lengths = {5, 3};
  Tensor x = padded_sequences(lengths, 5, rng);
  Tensor y = random_tensor({2, 2}, rng);
  Sequential padded = masked_model(GetParam(), 5);
  const std::vector<Tensor> before = padded.get_weights();
  padded.train_on_batch(x, y);
  std::vector<Tensor> want = before;
  for (int64_t n = 0; n < 2; ++n) {
    Sequential alone = masked_model(GetParam(), lengths[n], false);
    alone.set_weights(before);
    alone.train_on_batch(head(x, n, lengths[n]), y.slice_rows(n, n + 1));
    std::vector<Tensor> after = alone.get_weights();
    // Each alone takes the full step of its own loss; the batch takes half of each.
    for (std::size_t i = 0; i < want.size(); ++i) {
      for (int64_t j = 0; j < want[i].size(); ++j)
        want[i][j] += 0.5f * (after[i][j] - before[i][j]);
    }
  }
  std::vector<Tensor> got = padded.get_weights();
  for (std::size_t i = 0; i < want.size(); ++i) {
    expect_close(got[i], want[i], 1e-5, GetParam() + " weight " + std::to_string(i));
  }
}

TEST_P(MaskedRecurrent, PredictStepGivesWhatPredictGivesForTheSequenceSoFar) {
  Rng rng(13);
  const int64_t steps = 5;
  Sequential model({.input_shape = {steps, kFeatures}, .seed = 3});
  model.add(recurrent(GetParam(), 6, true));
  model.add(recurrent(GetParam(), 4, true));
  model.add(Dense({.units = 2, .activation = "tanh"}));
  Tensor x = random_tensor({2, steps, kFeatures}, rng);
  Tensor want = model.predict(x);         // [2, steps, 2]
  for (int pass = 0; pass < 2; ++pass) {  // the second pass after reset_states()
    for (int64_t t = 0; t < steps; ++t) {
      Tensor x_t({2, kFeatures});
      for (int64_t n = 0; n < 2; ++n) {
        std::copy_n(x.data() + (n * steps + t) * kFeatures, kFeatures, x_t.data() + n * kFeatures);
      }
      Tensor y_t = model.predict_step(x_t);
      ASSERT_EQ(y_t.shape(), (Shape{2, 2}));
      for (int64_t n = 0; n < 2; ++n) {
        for (int64_t j = 0; j < 2; ++j) {
          EXPECT_NEAR(y_t[n * 2 + j], want[(n * steps + t) * 2 + j], 1e-5)
              << GetParam() << " pass " << pass << " step " << t;
        }
      }
    }
    model.reset_states();
  }
}

TEST_P(MaskedRecurrent, StatefulLayersContinueFromTheLastBatch) {
  Rng rng(14);
  Tensor x = random_tensor({2, 6, kFeatures}, rng);
  Sequential whole({.input_shape = {6, kFeatures}, .seed = 5});
  whole.add(recurrent(GetParam(), 4));
  Sequential halves({.input_shape = {3, kFeatures}, .seed = 5});
  halves.add(recurrent(GetParam(), 4, false, true));
  halves.set_weights(whole.get_weights());
  Tensor first(Shape{2, 3, kFeatures}), second(Shape{2, 3, kFeatures});
  for (int64_t n = 0; n < 2; ++n) {
    std::copy_n(x.data() + n * 6 * kFeatures, 3 * kFeatures, first.data() + n * 3 * kFeatures);
    std::copy_n(x.data() + (n * 6 + 3) * kFeatures, 3 * kFeatures,
                second.data() + n * 3 * kFeatures);
  }
  halves.predict(first);
  expect_close(halves.predict(second), whole.predict(x), 1e-5, GetParam() + " stateful");
  // reset_states() starts again from zeros: the second half alone.
  halves.reset_states();
  Sequential fresh({.input_shape = {3, kFeatures}, .seed = 5});
  fresh.add(recurrent(GetParam(), 4));
  fresh.set_weights(whole.get_weights());
  expect_close(halves.predict(second), fresh.predict(second), 1e-6, GetParam() + " reset");
  // A stateful layer keeps sample i of one batch with sample i of the next.
  expect_error_message([&] { halves.predict(first.slice_rows(0, 1)); }, "batch size changed");
}

// A stateful layer inside Bidirectional carries its state too, and the model's reset_states()
// reaches both directions.
TEST_P(MaskedRecurrent, ResetStatesReachesStatefulLayersInsideBidirectional) {
  Rng rng(15);
  Tensor x = random_tensor({2, 3, kFeatures}, rng);
  Sequential model({.input_shape = {3, kFeatures}, .seed = 5});
  model.add(make_layer({{"type", "Bidirectional"},
                        {"layer", {{"type", GetParam()}, {"units", 4}, {"stateful", true}}}}));
  EXPECT_TRUE(model.stateful());
  const Tensor first = model.predict(x);
  const Tensor carried = model.predict(x);
  double moved = 0;
  for (int64_t i = 0; i < first.size(); ++i) moved += std::abs(carried[i] - first[i]);
  EXPECT_GT(moved, 1e-3) << "the second batch starts from the first one's state";
  model.reset_states();
  expect_close(model.predict(x), first, 0.0, GetParam() + " after reset_states()");
}

// Every batch of a stateful model has one size: fit, evaluate and predict refuse a smaller last
// batch before they start, and name batch sizes that fit.
TEST_P(MaskedRecurrent, StatefulModelsRefuseASmallerLastBatchUpFront) {
  Rng rng(16);
  auto model_of = [&](bool stateful) {
    Sequential model({.input_shape = {4, kFeatures}, .seed = 5});
    model.add(recurrent(GetParam(), 3, false, stateful));
    model.add(Dense({.units = 1}));
    model.compile(make_sgd({.learning_rate = 0.1f}), make_loss("mse"));
    return model;
  };
  Sequential model = model_of(true);
  EXPECT_FALSE(model_of(false).stateful());
  Tensor x = random_tensor({12, 4, kFeatures}, rng), y = random_tensor({12, 1}, rng);
  const std::vector<float> before = model.get_weights()[0].to_vector();
  expect_error_message(
      [&] { model.fit(x, y, {.epochs = 1, .batch_size = 5, .verbose = 0}); },
      "fit: layer 0 (" + GetParam() +
          ") is stateful: sample i of each batch continues sample i of the one before, so every "
          "batch needs the same size, and 12 samples in batches of 5 leave a last one of 2; use a "
          "batch size that divides 12, such as 4 or 6");
  EXPECT_EQ(model.get_weights()[0].to_vector(), before) << "nothing trained";
  // With validation data the batch size must divide both sets: it validates in batches of the
  // training's size (as Keras does), the state carried from the training.
  std::pair<Tensor, Tensor> val{random_tensor({3, 4, kFeatures}, rng), random_tensor({3, 1}, rng)};
  expect_error_message(
      [&] {
        model.fit(x, y, {.epochs = 1, .batch_size = 4, .validation_data = val, .verbose = 0});
      },
      "fit (validation data): layer 0 (" + GetParam() +
          ") is stateful: sample i of each batch continues sample i of the one before, so every "
          "batch needs the same size, and 3 samples in batches of 4 leave a last one of 3; use a "
          "batch size that divides both 3 and 12, such as 3");
  const History history =
      model.fit(x, y, {.epochs = 2, .batch_size = 3, .validation_data = val, .verbose = 0});
  EXPECT_EQ(history["val_loss"].size(), 2u);
  EXPECT_TRUE(std::isfinite(history["val_loss"][1]));
  model.reset_states();
  expect_error_message([&] { model.predict(x, 8); },
                       "predict: layer 0 (" + GetParam() + ") is stateful");
  expect_error_message([&] { model.evaluate(x, y, 7); }, "such as 6");
  EXPECT_EQ(model.predict(x, 6).dim(0), 12);
  model.reset_states();
  EXPECT_EQ(model.predict(x.slice_rows(0, 5), 8).dim(0), 5) << "one batch is always whole";
}

INSTANTIATE_TEST_SUITE_P(Layers, MaskedRecurrent, ::testing::Values("LSTM", "GRU", "SimpleRNN"),
                         [](const auto& param_info) { return param_info.param; });

// LSTM(return_sequences) -> Dense(1) per step, trained with SGD.
Sequential per_step_model(int64_t steps) {
  Sequential model({.input_shape = {steps, kFeatures}, .seed = 9});
  model.add(LSTM({.units = 6, .return_sequences = true}));
  model.add(Dense({.units = 1}));
  model.compile(make_sgd({.learning_rate = 0.1f}), make_loss("mse"));
  return model;
}

TEST(TruncatedBptt, EqualsFullBpttWhenTheChunkCoversTheSequence) {
  Rng rng(21);
  Tensor x = random_tensor({8, 6, kFeatures}, rng), y = random_tensor({8, 6, 1}, rng);
  Sequential full = per_step_model(6), chunk6 = per_step_model(6), chunk9 = per_step_model(6);
  const FitOptions options{.epochs = 2, .batch_size = 4};
  full.fit(x, y, options);
  FitOptions truncated = options;
  truncated.tbptt_steps = 6;
  chunk6.fit(x, y, truncated);
  truncated.tbptt_steps = 9;
  chunk9.fit(x, y, truncated);
  const std::vector<Tensor> want = full.get_weights();
  for (Sequential* model : {&chunk6, &chunk9}) {
    const std::vector<Tensor> got = model->get_weights();
    for (std::size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ(got[i].to_vector(), want[i].to_vector());
  }
}

TEST(TruncatedBptt, EachChunkStartsFromThePreviousStateWithoutItsGradient) {
  Rng rng(22);
  Tensor x = random_tensor({2, 6, kFeatures}, rng), y = random_tensor({2, 6, 1}, rng);
  Sequential truncated = per_step_model(6);
  Tensor pred;
  const double loss = truncated.train_on_batch_truncated(x, y, 4, &pred);
  EXPECT_EQ(pred.shape(), (Shape{2, 6, 1}));
  EXPECT_TRUE(std::isfinite(loss));

  // By hand: steps 0-3, an update, then steps 4-5 from the state the first chunk ended in.
  Sequential by_hand = per_step_model(6);
  auto steps = [](const Tensor& t, int64_t begin, int64_t end) {
    const int64_t total = t.dim(1), width = t.dim(2);
    Tensor out({t.dim(0), end - begin, width});
    for (int64_t n = 0; n < t.dim(0); ++n) {
      std::copy_n(t.data() + (n * total + begin) * width, (end - begin) * width,
                  out.data() + n * (end - begin) * width);
    }
    return out;
  };
  by_hand.train_on_batch(steps(x, 0, 4), steps(y, 0, 4));
  auto& lstm = dynamic_cast<Recurrent&>(by_hand.layer(0));
  lstm.set_initial_state(lstm.final_state());
  by_hand.train_on_batch(steps(x, 4, 6), steps(y, 4, 6));
  const std::vector<Tensor> got = truncated.get_weights(), want = by_hand.get_weights();
  // Close, not equal: the input GEMMs run over chunks of other lengths, so sums round apart.
  for (std::size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i], 1e-6, "weights");

  // And it is not full BPTT.
  Sequential full = per_step_model(6);
  full.train_on_batch(x, y);
  EXPECT_NE(full.get_weights()[0].to_vector(), got[0].to_vector());
}

TEST(TruncatedBptt, WithOneTargetPerSequenceOnlyTheLastChunkTrains) {
  Rng rng(23);
  Tensor x = random_tensor({3, 8, kFeatures}, rng), y = random_tensor({3, 1}, rng);
  auto model = [] {
    Sequential m({.input_shape = {8, kFeatures}, .seed = 4});
    m.add(GRU({.units = 5}));
    m.add(Dense({.units = 1}));
    m.compile(make_sgd({.learning_rate = 0.1f}), make_loss("mse"));
    return m;
  };
  Sequential truncated = model(), by_hand = model();
  truncated.train_on_batch_truncated(x, y, 3);
  // The same: the first 6 steps only carry the state into the last 2, which train.
  Tensor head6({3, 6, kFeatures}), tail2({3, 2, kFeatures});
  for (int64_t n = 0; n < 3; ++n) {
    std::copy_n(x.data() + n * 8 * kFeatures, 6 * kFeatures, head6.data() + n * 6 * kFeatures);
    std::copy_n(x.data() + (n * 8 + 6) * kFeatures, 2 * kFeatures,
                tail2.data() + n * 2 * kFeatures);
  }
  by_hand.forward(head6, Mode::Train);
  auto& gru = dynamic_cast<Recurrent&>(by_hand.layer(0));
  gru.set_initial_state(gru.final_state());
  by_hand.train_on_batch(tail2, y);
  const std::vector<Tensor> got = truncated.get_weights(), want = by_hand.get_weights();
  // Close, not equal: the input GEMMs run over chunks of other lengths, so sums round apart.
  for (std::size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i], 1e-6, "weights");
}

TEST(TruncatedBptt, RefusesLayersThatReadTheSequenceBackwards) {
  Sequential model({.input_shape = {6, kFeatures}});
  model.add(LSTM({.units = 3, .go_backwards = true}));
  model.compile(make_sgd({}), make_loss("mse"));
  Tensor x({2, 6, kFeatures}), y({2, 3});
  expect_error_message([&] { model.fit(x, y, {.tbptt_steps = 2}); },
                       "reads the sequence from its end");
  expect_error_message([&] { model.fit(x, y, {.tbptt_steps = -1}); }, "tbptt_steps must be >= 0");
}

TEST(SequentialRecurrent, RejectsReturnStateWithAClearMessage) {
  Sequential model({.input_shape = {4, kFeatures}});
  expect_error_message(
      [&] {
        model.add(make_layer({{"type", "LSTM"}, {"units", 3}, {"return_state", true}}));
      },
      "return_state");
}

// Targets with one value per sequence for a model that keeps the time axis: the shape error
// names the recurrent layer that returns every step, and only when that is the cause.
TEST(SequentialRecurrent, ShapeErrorsNameTheLayerThatReturnsSequences) {
  Rng rng(17);
  const Tensor x = random_tensor({2, 4, kFeatures}, rng), y = random_tensor({2, 1}, rng);
  auto fit_error = [&](const nlohmann::json& layers) {
    Sequential model = Sequential::from_spec(
        {{"input_shape", {4, kFeatures}}, {"layers", layers}, {"loss", "mse"}});
    try {
      model.fit(x, y, {.verbose = 0});
    } catch (const ShapeError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const nlohmann::json dense = {{"type", "Dense"}, {"units", 1}};
  EXPECT_EQ(fit_error({{{"type", "GRU"}, {"units", 3}, {"return_sequences", true}},
                       {{"type", "LSTM"}, {"units", 2}, {"return_sequences", true}},
                       dense}),
            "fit: the model outputs samples of shape [4, 1], y has samples of shape [1]; layer 1 "
            "(LSTM) returns every step (return_sequences true): set it to false for one output "
            "per sequence");
  EXPECT_NE(
      fit_error({{{"type", "Bidirectional"},
                  {"layer", {{"type", "SimpleRNN"}, {"units", 2}, {"return_sequences", true}}}},
                 dense})
          .find("layer 0 (Bidirectional) returns every step"),
      std::string::npos);
  // A shape error of another cause gets no such advice.
  EXPECT_EQ(fit_error({{{"type", "LSTM"}, {"units", 2}}, {{"type", "Dense"}, {"units", 3}}}),
            "fit: the model outputs samples of shape [3], y has samples of shape [1]");
  EXPECT_EQ(fit_error({{{"type", "LSTM"}, {"units", 2}, {"return_sequences", true}},
                       {{"type", "LSTM"}, {"units", 2}},
                       dense}),
            "no error");
}

TEST(SequentialRecurrent, PredictStepRefusesModelsThatNeedTheWholeSequence) {
  Sequential model({.input_shape = {4, kFeatures}});
  model.add(SimpleRNN({.units = 3, .return_sequences = true}));
  model.add(Flatten());
  expect_error_message([&] { model.predict_step(Tensor({1, kFeatures})); }, "whole sequence");
  expect_error_message([&] { model.predict_step(Tensor({1, 4, kFeatures})); }, "one time step");
}

// The global L2 norm of every trainable gradient after one backward pass on (x, y).
double gradient_norm(Sequential& model, const Tensor& x, const Tensor& y) {
  Sequential copy = Sequential::from_spec(model.spec());
  copy.set_weights(model.get_weights());
  copy.compile(make_sgd({.learning_rate = 0.0f}), make_loss("mse"));
  copy.train_on_batch(x, y);
  double sum = 0;
  for (auto& [name, param] : copy.named_params()) {
    for (float g : param->grad) sum += static_cast<double>(g) * g;
  }
  return std::sqrt(sum);
}

TEST(SequentialRecurrent, GradientClippingKeepsALongSequenceTrainable) {
  // A linear recurrence with W_hh = 1.02·I over 400 steps: the forward pass stays finite
  // (1.02^400 ≈ 2750) but the gradient with respect to W_hh grows with T·1.02^T — the
  // exploding gradient of the design notes. Clipping the global norm keeps SGD stable.
  const int64_t steps = 400;
  Rng rng(31);
  Tensor x = random_tensor({4, steps, 1}, rng, -0.1f, 0.1f), y = random_tensor({4, 1}, rng);
  auto model = [&](std::optional<float> clip) {
    Sequential m({.input_shape = {steps, 1}, .seed = 8});
    m.add(SimpleRNN({.units = 4, .activation = "linear"}));
    m.add(Dense({.units = 1}));
    std::vector<Tensor> w = m.get_weights();  // weight_ih, weight_hh, bias_ih, bias_hh, ...
    w[1].zero();
    for (int i = 0; i < 4; ++i) w[1][i * 4 + i] = 1.02f;
    m.set_weights(w);
    m.compile(make_sgd({.learning_rate = 0.01f, .clip = {.global_clipnorm = clip}}),
              make_loss("mse"));
    return m;
  };
  Sequential unclipped = model(std::nullopt), clipped = model(1.0f);
  EXPECT_GT(gradient_norm(unclipped, x, y), 1e3) << "the test needs an exploding gradient";
  double first = 0, last = 0;
  bool unclipped_finite = true;
  for (int i = 0; i < 20; ++i) {
    const double loss = clipped.train_on_batch(x, y);
    if (i == 0) first = loss;
    last = loss;
    ASSERT_TRUE(std::isfinite(loss)) << "clipped, step " << i;
    const double l = unclipped.train_on_batch(x, y);
    unclipped_finite = unclipped_finite && std::isfinite(l) && l < 1e6;
  }
  EXPECT_LT(last, first);
  EXPECT_FALSE(unclipped_finite) << "without clipping the same run should blow up";
}

}  // namespace
}  // namespace nnkit
