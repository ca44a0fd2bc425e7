#include "nnkit/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "nnkit/error.h"
#include "nnkit/layers/dense.h"
#include "nnkit/layers/dropout.h"

namespace nnkit {
namespace {

// The design notes' worked example: a 2-2-2 sigmoid network, one SGD step at rate 0.5.
Sequential worked_example() {
  Sequential model({.input_shape = {2}});
  model.add(Dense({.units = 2, .activation = "sigmoid"}));
  model.add(Dense({.units = 2, .activation = "sigmoid"}));
  model.set_weights({Tensor({2, 2}, {0.15f, 0.20f, 0.25f, 0.30f}), Tensor({2}, {0.35f, 0.35f}),
                     Tensor({2, 2}, {0.40f, 0.45f, 0.50f, 0.55f}), Tensor({2}, {0.60f, 0.60f})});
  model.compile(make_sgd({.learning_rate = 0.5f}), make_loss("mse"));
  return model;
}

TEST(Sequential, WorkedExampleForwardMatchesTheNotes) {
  Sequential model = worked_example();
  Tensor x({1, 2}, {0.05f, 0.10f}), y({1, 2}, {0.01f, 0.99f});
  Tensor out = model.predict(x);
  EXPECT_NEAR(out[0], 0.75136507, 1e-6);
  EXPECT_NEAR(out[1], 0.772928465, 1e-6);
  EXPECT_NEAR(model.evaluate(x, y).at("loss"), 0.298371109, 1e-6);
}

TEST(Sequential, WorkedExampleOneStepMatchesTheNotes) {
  Sequential model = worked_example();
  Tensor x({1, 2}, {0.05f, 0.10f}), y({1, 2}, {0.01f, 0.99f});
  double loss = model.train_on_batch(x, y);
  EXPECT_NEAR(loss, 0.298371109, 1e-6);
  std::vector<Tensor> w = model.get_weights();
  const float hidden[] = {0.149780716f, 0.19956143f, 0.24975114f, 0.29950229f};
  const float output[] = {0.35891648f, 0.408666186f, 0.511301270f, 0.561370121f};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(w[0][i], hidden[i], 1e-6) << "w" << i + 1;
    EXPECT_NEAR(w[2][i], output[i], 1e-6) << "w" << i + 5;
  }
}

Tensor xor_x() { return Tensor({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1}); }
Tensor xor_y() { return Tensor({4, 1}, {0, 1, 1, 0}); }

Sequential small_model(uint64_t seed) {
  Sequential model({.input_shape = {2}, .seed = seed});
  model.add(Dense({.units = 8, .activation = "tanh"}));
  model.add(Dropout({.rate = 0.1f}));
  model.add(Dense({.units = 1, .activation = "sigmoid"}));
  model.compile(make_adam({.learning_rate = 0.05f}), make_loss("binary_crossentropy"),
                {"accuracy"});
  return model;
}

TEST(Sequential, SameSeedGivesBitIdenticalTraining) {
  Sequential a = small_model(7), b = small_model(7), c = small_model(8);
  a.fit(xor_x(), xor_y(), {.epochs = 20, .batch_size = 2});
  b.fit(xor_x(), xor_y(), {.epochs = 20, .batch_size = 2});
  c.fit(xor_x(), xor_y(), {.epochs = 20, .batch_size = 2});
  auto wa = a.get_weights(), wb = b.get_weights(), wc = c.get_weights();
  bool all_equal_c = true;
  for (std::size_t i = 0; i < wa.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(wa[i].data(), wb[i].data(), sizeof(float) * wa[i].size())) << i;
    all_equal_c =
        all_equal_c && std::memcmp(wa[i].data(), wc[i].data(), sizeof(float) * wa[i].size()) == 0;
  }
  EXPECT_FALSE(all_equal_c) << "a different seed should give different weights";
}

TEST(Sequential, LearnsXor) {
  Sequential model = small_model(3);
  History h = model.fit(xor_x(), xor_y(), {.epochs = 300, .batch_size = 4});
  EXPECT_EQ(h.epochs(), 300);
  EXPECT_LT(h["loss"].back(), 0.1);
  EXPECT_EQ(model.evaluate(xor_x(), xor_y()).at("accuracy"), 1.0);
}

// Two interleaved spirals, 3 classes: not linearly separable, the classic test of a hidden layer.
void make_spiral(int per_class, Tensor& x, Tensor& y) {
  const int classes = 3;
  x = Tensor({per_class * classes, 2});
  y = Tensor({per_class * classes, 1});
  Rng rng(11);
  for (int c = 0; c < classes; ++c) {
    for (int i = 0; i < per_class; ++i) {
      int row = c * per_class + i;
      float r = static_cast<float>(i) / per_class;
      float theta = static_cast<float>(c) * 4.0f + 4.0f * r + rng.normal() * 0.2f;
      x[row * 2] = r * std::sin(theta);
      x[row * 2 + 1] = r * std::cos(theta);
      y[row] = static_cast<float>(c);
    }
  }
}

TEST(Sequential, ClassifiesSpiralsAbove95Percent) {
  Tensor x, y;
  make_spiral(100, x, y);
  Sequential model({.input_shape = {2}, .seed = 5});
  model.add(Dense({.units = 64, .activation = "relu"}));
  model.add(Dense({.units = 64, .activation = "relu"}));
  model.add(Dense({.units = 3, .activation = "softmax"}));
  model.compile(make_adam({.learning_rate = 0.01f}), make_loss("sparse_categorical_crossentropy"),
                {"accuracy"});
  model.fit(x, y, {.epochs = 300, .batch_size = 32});
  EXPECT_GT(model.evaluate(x, y).at("accuracy"), 0.95);
}

TEST(Sequential, RegressesASine) {
  const int n = 200;
  Tensor x({n, 1}), y({n, 1});
  for (int i = 0; i < n; ++i) {
    x[i] = -3.0f + 6.0f * i / (n - 1);
    y[i] = std::sin(x[i]);
  }
  Sequential model({.input_shape = {1}, .seed = 2});
  model.add(Dense({.units = 32, .activation = "tanh"}));
  model.add(Dense({.units = 32, .activation = "tanh"}));
  model.add(Dense({.units = 1}));
  model.compile(make_adam({.learning_rate = 0.01f}), make_loss("mse"), {"mae"});
  History h = model.fit(x, y, {.epochs = 300, .batch_size = 32});
  EXPECT_LT(model.evaluate(x, y).at("loss"), 2e-3) << "final training loss " << h["loss"].back();
}

TEST(Sequential, ValidationSplitTakesTheLastSamples) {
  Tensor x({10, 1}), y({10, 1});
  for (int i = 0; i < 10; ++i) x[i] = y[i] = static_cast<float>(i < 8 ? 0 : 100);
  Sequential model({.input_shape = {1}});
  model.add(Dense({.units = 1, .kernel_initializer = {.name = "zeros"}}));
  model.compile(make_sgd({.learning_rate = 0.0f}), make_loss("mse"));
  History h = model.fit(x, y, {.epochs = 1, .validation_split = 0.2});
  // Training samples are all 0 (loss 0); validation samples are the last two (100 each).
  EXPECT_EQ(h["loss"][0], 0.0);
  EXPECT_NEAR(h["val_loss"][0], 10000.0, 1e-6);
}

TEST(Sequential, RejectsDataThatDoesNotFit) {
  Sequential model({.input_shape = {3}});
  model.add(Dense({.units = 2}));
  model.compile(make_sgd({}), make_loss("mse"));
  try {
    model.fit(Tensor({4, 2}), Tensor({4, 2}));
    FAIL() << "no throw";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("samples of shape [3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model.fit(Tensor({4, 3}), Tensor({5, 2})), ShapeError);
  EXPECT_THROW(model.fit(Tensor({4, 3}), Tensor({4, 2}), {.batch_size = 0}), ValueError);
  Tensor bad({1, 3});
  bad[1] = NAN;
  EXPECT_THROW(model.predict(bad), ValueError);
}

TEST(Sequential, FitBeforeCompileSaysSo) {
  Sequential model({.input_shape = {3}});
  model.add(Dense({.units = 2}));
  try {
    model.fit(Tensor({4, 3}), Tensor({4, 2}));
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("compile"), std::string::npos);
  }
}

TEST(Sequential, SpecRoundTrips) {
  nlohmann::json spec = {{"input_shape", {4}},
                         {"layers",
                          {{{"type", "Dense"}, {"units", 3}, {"activation", "relu"}},
                           {{"type", "Dense"}, {"units", 1}}}},
                         {"loss", "mse"},
                         {"optimizer", {{"type", "sgd"}, {"learning_rate", 0.1}}},
                         {"metrics", {"mae"}},
                         {"seed", 9}};
  Sequential model = Sequential::from_spec(spec);
  Sequential again = Sequential::from_spec(model.spec());
  EXPECT_EQ(model.spec(), again.spec());
  EXPECT_EQ(model.size(), 2u);
  EXPECT_EQ(model.output_shape(), (Shape{1}));
}

TEST(Sequential, SpecErrorsNameTheLayer) {
  nlohmann::json spec = {{"input_shape", {4}},
                         {"layers", {{{"type", "Dense"}, {"units", 3}}, {{"type", "Dens"}}}}};
  try {
    Sequential::from_spec(spec);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("layers[1]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Sequential::from_spec({{"layers", nlohmann::json::array()}}), ValueError);
  EXPECT_THROW(Sequential::from_spec({{"layer", nlohmann::json::array()}}), ValueError);
}

TEST(Sequential, SummaryListsLayersAndTotals) {
  Sequential model({.input_shape = {784}});
  model.add(Dense({.units = 128, .activation = "relu"}));
  model.add(Dense({.units = 10, .activation = "softmax"}));
  std::string s = model.summary();
  EXPECT_NE(s.find("(None, 128)"), std::string::npos) << s;
  EXPECT_NE(s.find("100480"), std::string::npos) << s;
  EXPECT_NE(s.find("Total params: 101770"), std::string::npos) << s;
}

}  // namespace
}  // namespace nnkit

namespace nnkit {
namespace {

TEST(Sequential, SkipsTheInputGradientOfItsFirstLayerOnly) {
  Sequential model({.input_shape = {3}});
  model.add(Dense({.units = 4}));
  model.add(Dense({.units = 2}));
  EXPECT_FALSE(model.layer(0).input_gradient_needed());
  EXPECT_TRUE(model.layer(1).input_gradient_needed());
  Dense standalone({.units = 2});
  EXPECT_TRUE(standalone.input_gradient_needed());
}

}  // namespace
}  // namespace nnkit

namespace nnkit {
namespace {

TEST(Sequential, BatchSizeChoosesStochasticMinibatchOrBatchDescent) {
  Tensor x({10, 1}, 1.0f), y({10, 1}, 2.0f);
  for (auto [batch, steps] :
       {std::pair{1, 10}, std::pair{4, 3}, std::pair{10, 1}, std::pair{50, 1}}) {
    Sequential model({.input_shape = {1}});
    model.add(Dense({.units = 1}));
    model.compile(make_sgd({.learning_rate = 0.01f}), make_loss("mse"));
    model.fit(x, y, {.epochs = 2, .batch_size = batch});
    EXPECT_EQ(model.optimizer()->iterations(), 2 * steps) << "batch_size " << batch;
  }
}

TEST(Sequential, ValidationDataIsEvaluatedEachEpoch) {
  Tensor x({8, 1}, 1.0f), y({8, 1}, 0.0f);
  Tensor vx({2, 1}, 1.0f), vy({2, 1}, 3.0f);
  Sequential model({.input_shape = {1}});
  model.add(Dense({.units = 1, .kernel_initializer = {.name = "zeros"}}));
  model.compile(make_sgd({.learning_rate = 0.0f}), make_loss("mse"), {"mae"});
  History h = model.fit(x, y, {.epochs = 2, .validation_data = std::pair{vx, vy}});
  EXPECT_EQ(h.names, (std::vector<std::string>{"loss", "mae", "val_loss", "val_mae"}));
  EXPECT_EQ(h["val_loss"], (std::vector<double>{9.0, 9.0}));
  EXPECT_EQ(h["val_mae"], (std::vector<double>{3.0, 3.0}));
}

}  // namespace
}  // namespace nnkit
