#include "nnkit/layers/bidirectional.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
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
#include "nnkit/layers/gru.h"
#include "nnkit/layers/lstm.h"
#include "nnkit/layers/registry.h"
#include "nnkit/layers/simple_rnn.h"
#include "nnkit/model.h"
#include "scratch_dir.h"
#include "test_util.h"

namespace nnkit {
namespace {

using nlohmann::json;
using testing::expect_error_message;
using testing::expect_gradients;
using testing::expect_layer_gradients;
using testing::random_tensor;

// The inner layer's spec: {"type": type, "units": units, "return_sequences": sequences}.
json recurrent_spec(const std::string& type, int64_t units, bool sequences) {
  return {{"type", type}, {"units", units}, {"return_sequences", sequences}};
}

// A built Bidirectional from its spec, with random biases too (the default zeros would hide bias
// mistakes).
std::unique_ptr<Layer> make_bidirectional(const json& inner, const std::string& merge_mode,
                                          const Shape& input, Rng& rng) {
  std::unique_ptr<Layer> layer =
      make_layer({{"type", "Bidirectional"}, {"merge_mode", merge_mode}, {"layer", inner}});
  layer->build(input, rng);
  for (Param* p : layer->params()) {
    if (p->name.find("bias") != std::string::npos) {
      for (float& b : p->value) b = rng.uniform(-0.5f, 0.5f);
    }
  }
  return layer;
}

// Copies every parameter value of `from` into `to` (same types, same order).
void copy_params(Layer& from, Layer& to) {
  std::vector<Param*> a = from.params(), b = to.params();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) b[i]->value = a[i]->value;
}

// x [N, T, W] with the time axis reversed.
Tensor reversed_in_time(const Tensor& x) {
  const int64_t batch = x.dim(0), steps = x.dim(1), width = x.dim(2);
  Tensor out(x.shape());
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t t = 0; t < steps; ++t) {
      for (int64_t w = 0; w < width; ++w) {
        out[(n * steps + steps - 1 - t) * width + w] = x[(n * steps + t) * width + w];
      }
    }
  }
  return out;
}

// Every recurrent type, every merge mode, with and without return_sequences: the input and every
// parameter of both directions against finite differences.
using GradCase = std::tuple<std::string, std::string, bool>;  // type, merge_mode, sequences

class BidirectionalGradients : public ::testing::TestWithParam<GradCase> {};

TEST_P(BidirectionalGradients, BackwardMatchesFiniteDifferences) {
  const auto& [type, merge_mode, sequences] = GetParam();
  Rng rng(31);
  std::unique_ptr<Layer> layer =
      make_bidirectional(recurrent_spec(type, 3, sequences), merge_mode, {4, 3}, rng);
  ASSERT_EQ(layer->params().size(), 8u);
  expect_layer_gradients(*layer, random_tensor({2, 4, 3}, rng));
}

std::string grad_case_name(const ::testing::TestParamInfo<GradCase>& info) {
  const auto& [type, merge_mode, sequences] = info.param;
  return fmt::format("{}_{}_{}", type, merge_mode, sequences ? "sequences" : "last");
}

INSTANTIATE_TEST_SUITE_P(EveryTypeAndMergeMode, BidirectionalGradients,
                         ::testing::Combine(::testing::Values("LSTM", "GRU", "SimpleRNN"),
                                            ::testing::Values("concat", "sum", "mul", "ave"),
                                            ::testing::Bool()),
                         grad_case_name);

TEST(Bidirectional, BackwardWithoutBiasOrWithABackwardsInnerLayerMatchesFiniteDifferences) {
  Rng rng(32);
  std::unique_ptr<Layer> no_bias = make_bidirectional(
      {{"type", "LSTM"}, {"units", 3}, {"use_bias", false}}, "concat", {3, 2}, rng);
  ASSERT_EQ(no_bias->params().size(), 4u);
  expect_layer_gradients(*no_bias, random_tensor({2, 3, 2}, rng));
  // go_backwards on the wrapped layer: its forward layer reads backwards, its backward forwards.
  std::unique_ptr<Layer> flipped = make_bidirectional(
      {{"type", "GRU"}, {"units", 3}, {"go_backwards", true}, {"return_sequences", true}}, "mul",
      {4, 2}, rng);
  expect_layer_gradients(*flipped, random_tensor({2, 4, 2}, rng));
}

// The definition, spelled out with two plain layers: the forward layer on x, the go_backwards
// layer on x, its sequence reversed back to input order, then merged per merge mode.
TEST(Bidirectional, IsTheTwoDirectionsMerged) {
  for (const std::string type : {"LSTM", "GRU", "SimpleRNN"}) {
    for (bool sequences : {false, true}) {
      SCOPED_TRACE(fmt::format("{} return_sequences={}", type, sequences));
      Rng rng(33);
      const int64_t units = 3, steps = 5;
      std::unique_ptr<Layer> concat =
          make_bidirectional(recurrent_spec(type, units, sequences), "concat", {steps, 2}, rng);
      json backwards_spec = recurrent_spec(type, units, sequences);
      backwards_spec["go_backwards"] = true;
      std::unique_ptr<Layer> forwards = make_layer(recurrent_spec(type, units, sequences));
      std::unique_ptr<Layer> backwards = make_layer(backwards_spec);
      forwards->build({steps, 2}, rng);
      backwards->build({steps, 2}, rng);
      auto& bi = dynamic_cast<Bidirectional&>(*concat);
      copy_params(bi.forward_layer(), *forwards);
      copy_params(bi.backward_layer(), *backwards);

      Tensor x = random_tensor({2, steps, 2}, rng);
      Tensor f = forwards->forward(x, Mode::Infer);
      Tensor b = backwards->forward(x, Mode::Infer);
      if (sequences) b = reversed_in_time(b);
      Tensor y = concat->forward(x, Mode::Infer);
      const int64_t rows = f.size() / units;
      ASSERT_EQ(y.size(), 2 * f.size());
      EXPECT_EQ(y.shape().back(), 2 * units);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < units; ++j) {
          EXPECT_EQ(y[2 * r * units + j], f[r * units + j]) << "forward half, row " << r;
          EXPECT_EQ(y[(2 * r + 1) * units + j], b[r * units + j]) << "backward half, row " << r;
        }
      }

      for (const std::string mode : {"sum", "mul", "ave"}) {
        std::unique_ptr<Layer> merged =
            make_bidirectional(recurrent_spec(type, units, sequences), mode, {steps, 2}, rng);
        copy_params(*concat, *merged);
        Tensor m = merged->forward(x, Mode::Infer);
        ASSERT_EQ(m.shape(), f.shape()) << mode;
        for (int64_t i = 0; i < f.size(); ++i) {
          const float want = mode == "sum"   ? f[i] + b[i]
                             : mode == "mul" ? f[i] * b[i]
                                             : 0.5f * (f[i] + b[i]);
          EXPECT_FLOAT_EQ(m[i], want) << mode << " element " << i;
        }
      }
    }
  }
}

// PyTorch's h_n: without return_sequences the backward half is the backward layer's final state,
// which is the sequence output's backward half at input step 0, not at the last step.
TEST(Bidirectional, TheLastOutputsBackwardHalfIsTheSequencesFirstStep) {
  Rng rng(34);
  const int64_t units = 4, steps = 6;
  std::unique_ptr<Layer> last =
      make_bidirectional(recurrent_spec("LSTM", units, false), "concat", {steps, 3}, rng);
  std::unique_ptr<Layer> all =
      make_bidirectional(recurrent_spec("LSTM", units, true), "concat", {steps, 3}, rng);
  copy_params(*last, *all);
  Tensor x = random_tensor({3, steps, 3}, rng);
  Tensor h = last->forward(x, Mode::Infer), seq = all->forward(x, Mode::Infer);
  ASSERT_EQ(h.shape(), (Shape{3, 2 * units}));
  ASSERT_EQ(seq.shape(), (Shape{3, steps, 2 * units}));
  for (int64_t n = 0; n < 3; ++n) {
    for (int64_t j = 0; j < units; ++j) {
      const float* first = seq.data() + (n * steps) * 2 * units;
      const float* final = seq.data() + (n * steps + steps - 1) * 2 * units;
      EXPECT_EQ(h[n * 2 * units + j], final[j]) << "forward h at the last step";
      EXPECT_EQ(h[n * 2 * units + units + j], first[units + j]) << "backward h at step 0";
    }
  }
  // And not the backward layer's output at the last input step, which has seen one step only.
  const float* final0 = seq.data() + (steps - 1) * 2 * units;
  EXPECT_NE(h[units], final0[units]);
}

TEST(Bidirectional, NamesItsParametersByDirectionAndDrawsForwardFirst) {
  const int64_t units = 5, features = 3;
  Rng rng(35);
  Bidirectional bi(LSTM({.units = units}));
  EXPECT_EQ(bi.build({7, features}, rng), (Shape{2 * units}));
  std::vector<std::string> names;
  for (Param* p : bi.params()) names.push_back(p->name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"forward.weight_ih", "forward.weight_hh", "forward.bias_ih",
                                      "forward.bias_hh", "backward.weight_ih", "backward.weight_hh",
                                      "backward.bias_ih", "backward.bias_hh"}));
  EXPECT_EQ(bi.param_count(), 2 * 4 * units * (features + units + 2));
  // The same draws as building the two layers one after the other.
  Rng again(35);
  LSTM forwards({.units = units}), backwards({.units = units, .go_backwards = true});
  forwards.build({7, features}, again);
  backwards.build({7, features}, again);
  std::vector<Param*> p = bi.params();
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(p[i]->value.to_vector(), forwards.params()[i]->value.to_vector()) << p[i]->name;
    EXPECT_EQ(p[4 + i]->value.to_vector(), backwards.params()[i]->value.to_vector())
        << p[4 + i]->name;
  }
  // Building again keeps the names (no double prefix).
  bi.build({7, features}, rng);
  EXPECT_EQ(bi.params()[0]->name, "forward.weight_ih");
  EXPECT_EQ(bi.params()[4]->name, "backward.weight_ih");
}

TEST(Bidirectional, OutputShapesFollowMergeModeAndReturnSequences) {
  Rng rng(36);
  EXPECT_EQ(Bidirectional(GRU({.units = 4, .return_sequences = true})).build({6, 2}, rng),
            (Shape{6, 8}));
  EXPECT_EQ(Bidirectional(GRU({.units = 4}), {.merge_mode = "sum"}).build({6, 2}, rng), (Shape{4}));
  EXPECT_EQ(Bidirectional(SimpleRNN({.units = 3, .return_sequences = true}), {.merge_mode = "ave"})
                .build({6, 2}, rng),
            (Shape{6, 3}));
}

TEST(Bidirectional, BackwardAddsIntoGradients) {
  Rng rng(37);
  std::unique_ptr<Layer> layer =
      make_bidirectional(recurrent_spec("GRU", 3, true), "mul", {4, 2}, rng);
  Tensor x = random_tensor({2, 4, 2}, rng), dy = random_tensor({2, 4, 3}, rng);
  layer->forward(x, Mode::Train);
  layer->backward(dy);
  std::vector<std::vector<float>> once;
  for (Param* p : layer->params()) once.push_back(p->grad.to_vector());
  layer->backward(dy);
  for (std::size_t k = 0; k < once.size(); ++k) {
    for (std::size_t i = 0; i < once[k].size(); ++i) {
      EXPECT_FLOAT_EQ(layer->params()[k]->grad[static_cast<int64_t>(i)], 2 * once[k][i])
          << layer->params()[k]->name;
    }
  }
}

TEST(Bidirectional, SkipsTheInputGradientWhenNotNeeded) {
  Rng rng(38);
  std::unique_ptr<Layer> layer =
      make_bidirectional(recurrent_spec("LSTM", 3, false), "concat", {3, 2}, rng);
  Tensor x = random_tensor({2, 3, 2}, rng), dy = random_tensor({2, 6}, rng);
  layer->forward(x, Mode::Train);
  EXPECT_EQ(layer->backward(dy).shape(), x.shape());
  std::vector<std::vector<float>> grads;
  for (Param* p : layer->params()) grads.push_back(p->grad.to_vector());
  layer->zero_grad();
  layer->set_input_gradient_needed(false);
  layer->forward(x, Mode::Train);
  EXPECT_TRUE(layer->backward(dy).empty());
  auto& bi = dynamic_cast<Bidirectional&>(*layer);
  EXPECT_FALSE(bi.forward_layer().input_gradient_needed());
  EXPECT_FALSE(bi.backward_layer().input_gradient_needed());
  for (std::size_t k = 0; k < grads.size(); ++k) {
    EXPECT_EQ(layer->params()[k]->grad.to_vector(), grads[k]) << layer->params()[k]->name;
  }
}

// With two threads the directions run at once, one thread each; with one, one after the other.
// Either way the same arithmetic: the same outputs, gradients and dx, bit for bit.
TEST(Bidirectional, RunsTheDirectionsAtOnceWithTheSameResults) {
  const int before = num_threads();
  for (const std::string type : {"LSTM", "GRU", "SimpleRNN"}) {
    SCOPED_TRACE(type);
    Rng rng(43);
    // Large enough for the inner layers' own parallel loops, were they not nested.
    std::unique_ptr<Layer> layer =
        make_bidirectional(recurrent_spec(type, 80, true), "mul", {3, 4}, rng);
    Tensor x = random_tensor({64, 3, 4}, rng), dy = random_tensor({64, 3, 80}, rng);
    auto run = [&](int threads, std::vector<std::vector<float>>& grads) {
      set_num_threads(threads);
      layer->zero_grad();
      Tensor y = layer->forward(x, Mode::Train);
      Tensor dx = layer->backward(dy);
      for (Param* p : layer->params()) grads.push_back(p->grad.to_vector());
      EXPECT_EQ(num_threads(), threads) << "the caller's thread count must come back";
      return std::pair{y.to_vector(), dx.to_vector()};
    };
    std::vector<std::vector<float>> one_grads, two_grads;
    const auto one = run(1, one_grads);
    const auto two = run(2, two_grads);
    EXPECT_EQ(two.first, one.first) << "y";
    EXPECT_EQ(two.second, one.second) << "dx";
    EXPECT_EQ(two_grads, one_grads);
  }
  set_num_threads(before);
}

// An inner layer's error, thrown on a worker thread, reaches the caller.
TEST(Bidirectional, CarriesAnInnerLayersErrorOutOfItsThreads) {
  const int before = num_threads();
  set_num_threads(2);
  Rng rng(44);
  // Stateful inner layers refuse a new batch size: an error only they can find.
  Bidirectional bi(LSTM({.units = 4, .stateful = true}));
  bi.build({3, 2}, rng);
  bi.forward(Tensor({2, 3, 2}), Mode::Infer);
  EXPECT_THROW(bi.forward(Tensor({5, 3, 2}), Mode::Infer), ShapeError);
  expect_error_message(
      [&] {
        bi.forward(Tensor({5, 3, 2}), Mode::Infer);
      },
      "LSTM(units=4): stateful, and the batch size changed from 2 to 5");
  set_num_threads(before);
}

constexpr char kStackedSpec[] = R"({
  "input_shape": [5, 3],
  "layers": [
    {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 4, "return_sequences": true}},
    {"type": "Bidirectional", "merge_mode": "sum", "layer": {"type": "GRU", "units": 3}},
    {"type": "Dense", "units": 2}
  ],
  "loss": "mse", "optimizer": {"type": "sgd", "learning_rate": 0.1}, "seed": 7})";

// Bidirectional(return_sequences) -> Bidirectional -> Dense in a Sequential: the gradient of the
// whole stack, through both directions of both layers, against finite differences.
TEST(Bidirectional, StackedInASequentialMatchesFiniteDifferences) {
  Sequential model = Sequential::from_spec(json::parse(kStackedSpec));
  EXPECT_EQ(model.layer(0).output_shape(), (Shape{5, 8}));
  EXPECT_EQ(model.output_shape(), (Shape{2}));
  model.layer(0).set_input_gradient_needed(true);  // Sequential skips it; the check reads it
  std::vector<Param*> params;
  for (auto& [name, p] : model.named_params()) params.push_back(p);
  ASSERT_EQ(params.size(), 18u);
  Rng rng(39);
  expect_gradients([&](const Tensor& x) { return model.forward(x, Mode::Train); },
                   [&](const Tensor& dy) {
                     Tensor d = dy;
                     for (std::size_t i = model.size(); i-- > 0;) d = model.layer(i).backward(d);
                     return d;
                   },
                   random_tensor({2, 5, 3}, rng), params);
}

TEST(Bidirectional, StackedInASequentialLearns) {
  Sequential model = Sequential::from_spec(json::parse(kStackedSpec));
  Rng rng(40);
  Tensor x = random_tensor({32, 5, 3}, rng), y({32, 2});
  // Targets from both ends of the sequence: the first step's and the last step's first feature.
  for (int64_t n = 0; n < 32; ++n) {
    y[n * 2] = x[n * 15];
    y[n * 2 + 1] = x[n * 15 + 12];
  }
  model.compile(make_adam({.learning_rate = 0.01f}), make_loss("mse"));
  const double before = model.evaluate(x, y).at("loss");
  model.fit(x, y, {.epochs = 60, .batch_size = 8, .verbose = 0});
  EXPECT_LT(model.evaluate(x, y).at("loss"), 0.1 * before);
}

// The file holds layers.{i}.forward.* and layers.{i}.backward.*; a model read back predicts the
// same.
TEST(Bidirectional, SavesAndLoadsInAModelFile) {
  Sequential model = Sequential::from_spec(json::parse(kStackedSpec));
  std::vector<std::string> names;
  for (const auto& [name, param] : model.named_params()) names.push_back(name);
  EXPECT_EQ(names.front(), "layers.0.forward.weight_ih");
  EXPECT_EQ(names[4], "layers.0.backward.weight_ih");
  EXPECT_EQ(names[8], "layers.1.forward.weight_ih");
  EXPECT_EQ(names[15], "layers.1.backward.bias_hh");
  Rng rng(41);
  Tensor x = random_tensor({3, 5, 3}, rng);
  Tensor before = model.predict(x);
  testing::ScratchDir dir;
  save_model(dir.file("bi.safetensors"), model);
  Sequential loaded = load_model(dir.file("bi.safetensors"));
  EXPECT_EQ(loaded.spec()["layers"], model.spec()["layers"]);
  EXPECT_EQ(loaded.predict(x).to_vector(), before.to_vector());
}

TEST(Bidirectional, ConfigRoundTripsThroughMakeLayer) {
  const json specs[] = {
      {{"type", "Bidirectional"}, {"layer", {{"type", "LSTM"}, {"units", 8}}}},
      {{"type", "Bidirectional"},
       {"merge_mode", "ave"},
       {"layer",
        {{"type", "GRU"}, {"units", 4}, {"return_sequences", true}, {"go_backwards", true}}}},
      {{"type", "Bidirectional"},
       {"merge_mode", "mul"},
       {"layer", {{"type", "SimpleRNN"}, {"units", 2}, {"activation", "relu"}}}},
  };
  for (const json& spec : specs) {
    std::unique_ptr<Layer> layer = make_layer(spec);
    EXPECT_EQ(layer->type(), "Bidirectional");
    json config = layer->config();
    EXPECT_EQ(make_layer(config)->config(), config);
    // The inner layer's full config, with go_backwards as the user gave it.
    EXPECT_EQ(config["layer"], make_layer(spec["layer"])->config());
    EXPECT_EQ(config["merge_mode"], spec.value("merge_mode", "concat"));
  }
  std::unique_ptr<Layer> flipped = make_layer(specs[1]);
  auto& bi = dynamic_cast<Bidirectional&>(*flipped);
  EXPECT_EQ(bi.forward_layer().config()["go_backwards"], true);
  EXPECT_EQ(bi.backward_layer().config()["go_backwards"], false);
  EXPECT_EQ(make_layer(specs[0])->config(), (json{{"type", "Bidirectional"},
                                                  {"merge_mode", "concat"},
                                                  {"layer", LSTM({.units = 8}).config()}}));
}

// make_layer(spec) throws a ValueError whose message contains `part`.
void expect_value_error(const json& spec, const std::string& part) {
  EXPECT_THROW(make_layer(spec), ValueError) << spec.dump();
  expect_error_message([&] { make_layer(spec); }, part);
}

TEST(Bidirectional, RejectsBadArguments) {
  const json lstm = {{"type", "LSTM"}, {"units", 4}};
  auto spec = [&](const json& extra) {
    json s = {{"type", "Bidirectional"}, {"layer", lstm}};
    s.update(extra);
    return s;
  };
  expect_value_error(spec({{"merge_mode", "cat"}}),
                     "Bidirectional: unknown merge_mode 'cat'; expected concat, sum, mul or ave");
  expect_value_error(spec({{"merge_mode", "avg"}}),
                     "unknown merge_mode 'avg' (did you mean 'ave'?)");
  expect_value_error(spec({{"merge_mode", nullptr}}),
                     "Bidirectional: merge_mode null (two separate outputs) is not supported");
  expect_value_error(spec({{"merge_mode", 1}}),
                     "Bidirectional: argument 'merge_mode' must be a string, got 1");
  expect_value_error(spec({{"layer", {{"type", "Dense"}, {"units", 4}}}}),
                     "Bidirectional: argument 'layer' must be a recurrent layer (LSTM, GRU or "
                     "SimpleRNN), got Dense");
  expect_value_error({{"type", "Bidirectional"}},
                     "Bidirectional: missing required argument 'layer'");
  expect_value_error(spec({{"layer", "LSTM"}}),
                     "Bidirectional: argument 'layer' must be a JSON object, got \"LSTM\"");
  expect_value_error(spec({{"layer", {{"type", "LSTM"}}}}),
                     "Bidirectional: argument 'layer': LSTM: missing required argument 'units'");
  expect_value_error(spec({{"layer", {{"type", "GRUU"}, {"units", 4}}}}),
                     "Bidirectional: argument 'layer': unknown layer type 'GRUU' (did you mean "
                     "'GRU'?)");
  expect_value_error(spec({{"merge", "sum"}}), "Bidirectional: unknown argument 'merge'");
  expect_value_error(spec({{"backward_layer", lstm}}),
                     "Bidirectional: unknown argument 'backward_layer'");

  // The same checks on the C++ constructor.
  EXPECT_THROW(Bidirectional(LSTM({.units = 2}), {.merge_mode = "concatenate"}), ValueError);
  expect_error_message([] { Bidirectional(LSTM({.units = 2}), {.merge_mode = "concatenate"}); },
                       "unknown merge_mode 'concatenate'");
  EXPECT_THROW(Bidirectional(Dense({.units = 2})), ValueError);
  expect_error_message([] { Bidirectional(Dense({.units = 2})); },
                       "argument 'layer' must be a recurrent layer");
  expect_error_message([] { Bidirectional(std::unique_ptr<Layer>()); },
                       "Bidirectional: argument 'layer' is null");
}

TEST(Bidirectional, RejectsInputsThatAreNotSequences) {
  Rng rng(42);
  Bidirectional bi(LSTM({.units = 4}));
  EXPECT_THROW(bi.forward(Tensor({1, 3, 2}), Mode::Infer), ValueError);  // not built
  EXPECT_THROW(bi.build({6}, rng), ShapeError);
  expect_error_message([&] { bi.build({6}, rng); },
                       "Bidirectional(LSTM(units=4)): expected input [N, T, F] (batch, time "
                       "steps, features), got per-sample shape [N, 6]");
  bi.build({3, 2}, rng);
  EXPECT_THROW(bi.forward(Tensor({2, 6}), Mode::Infer), ShapeError);
  expect_error_message(
      [&] {
        bi.forward(Tensor({2, 6}), Mode::Infer);
      },
      "Bidirectional(LSTM(units=4)): expected input [N, T, 2] (batch, time "
      "steps, features), got [2, 6]");
  expect_error_message(
      [&] {
        bi.forward(Tensor({2, 3, 5}), Mode::Infer);
      },
      "expected input [N, T, 2] (batch, time steps, features), got [2, 3, 5]");
  // The backward before a training forward, then a gradient of the wrong shape.
  EXPECT_THROW(bi.backward(Tensor({2, 8})), ValueError);
  bi.forward(Tensor({2, 3, 2}), Mode::Train);
  EXPECT_THROW(bi.backward(Tensor({2, 4})), ShapeError);
  expect_error_message(
      [&] {
        bi.backward(Tensor({2, 4}));
      },
      "backward expected a gradient of shape [2, 8]");
  EXPECT_NO_THROW(bi.backward(Tensor({2, 8})));
  bi.forward(Tensor({2, 3, 2}), Mode::Infer);  // drops the training cache
  EXPECT_THROW(bi.backward(Tensor({2, 8})), ValueError);
}

}  // namespace
}  // namespace nnkit
