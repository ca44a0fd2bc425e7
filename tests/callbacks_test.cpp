#include "nnkit/callbacks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nnkit/error.h"
#include "nnkit/layers/dense.h"
#include "nnkit/model.h"

namespace nnkit {
namespace {

Sequential tiny_model(float lr = 0.1f) {
  Sequential model({.input_shape = {1}, .seed = 1});
  model.add(Dense({.units = 1}));
  model.compile(make_sgd({.learning_rate = lr}), make_loss("mse"), {"mae"});
  return model;
}

void set_only_weight(Sequential& model, float w) {
  model.set_weights({Tensor({1, 1}, {w}), Tensor({1}, {0.0f})});
}

TEST(EarlyStopping, StopsAfterPatienceAndRestoresTheBestWeights) {
  Sequential model = tiny_model();
  EarlyStopping es({.monitor = "val_loss", .patience = 2, .restore_best_weights = true});
  es.on_train_begin(model, {});
  const double val[] = {1.0, 0.5, 0.7, 0.6, 0.8};
  int epoch = 0;
  for (; epoch < 5 && !model.stop_training; ++epoch) {
    set_only_weight(model, static_cast<float>(epoch));
    es.on_epoch_end(model, epoch, {{"loss", 1.0}, {"val_loss", val[epoch]}});
  }
  EXPECT_EQ(epoch, 4);  // epochs 2 and 3 did not improve on 0.5: patience 2 runs out after epoch 3
  ASSERT_TRUE(es.stopped_epoch().has_value());
  EXPECT_EQ(*es.stopped_epoch(), 3);
  EXPECT_EQ(es.best_epoch(), 1);
  es.on_train_end(model, {});
  EXPECT_EQ(model.get_weights()[0][0], 1.0f);  // the weights of epoch 1
}

TEST(EarlyStopping, MinDeltaAndMaxMode) {
  Sequential model = tiny_model();
  EarlyStopping es({.monitor = "val_accuracy", .min_delta = 0.05, .patience = 0});
  es.on_train_begin(model, {});
  es.on_epoch_end(model, 0, {{"val_accuracy", 0.5}});
  EXPECT_FALSE(model.stop_training);
  es.on_epoch_end(model, 1, {{"val_accuracy", 0.52}});  // better, but by less than min_delta
  EXPECT_TRUE(model.stop_training);
}

TEST(EarlyStopping, NamesAMissingMonitor) {
  Sequential model = tiny_model();
  EarlyStopping es;
  es.on_train_begin(model, {});
  try {
    es.on_epoch_end(model, 0, {{"loss", 1.0}});
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'val_loss'"), std::string::npos) << e.what();
  }
}

TEST(EarlyStopping, StopsARealFitThatStopsImproving) {
  // With learning rate 0 the loss never improves after epoch 0: with patience 3, training
  // stops after epoch 3, as Keras's does.
  Sequential model = tiny_model(0.0f);
  Tensor x({8, 1}, 1.0f), y({8, 1}, 2.0f);
  auto es = std::make_shared<EarlyStopping>(EarlyStoppingOptions{.monitor = "loss", .patience = 3});
  History h = model.fit(x, y, {.epochs = 50, .callbacks = {es}});
  EXPECT_EQ(h.epochs(), 4);
}

TEST(TerminateOnNaN, StopsAtTheFirstNaNLoss) {
  Sequential model = tiny_model(1e30f);  // diverges to inf/NaN
  Tensor x({8, 1}, 100.0f), y({8, 1}, 1.0f);
  History h = model.fit(
      x, y, {.epochs = 100, .batch_size = 1, .callbacks = {std::make_shared<TerminateOnNaN>()}});
  EXPECT_LT(h.epochs(), 100);
  EXPECT_FALSE(std::isfinite(h["loss"].back()));
}

TEST(ReduceLROnPlateau, ReducesAfterPatienceThenCoolsDown) {
  Sequential model = tiny_model(0.1f);
  ReduceLROnPlateau r({.monitor = "loss", .factor = 0.5, .patience = 2, .cooldown = 1});
  r.on_train_begin(model, {});
  std::vector<float> lrs;
  for (int e = 0; e < 6; ++e) {
    r.on_epoch_end(model, e, {{"loss", 1.0}});
    lrs.push_back(model.optimizer()->learning_rate());
  }
  // As Keras: epoch 0 sets the best; 1, 2 wait -> reduce at 2; 3 ends the cooldown and
  // waits; 4 waits -> reduce at 4.
  EXPECT_FLOAT_EQ(lrs[1], 0.1f);
  EXPECT_FLOAT_EQ(lrs[2], 0.05f);
  EXPECT_FLOAT_EQ(lrs[3], 0.05f);
  EXPECT_FLOAT_EQ(lrs[4], 0.025f);
  EXPECT_FLOAT_EQ(lrs[5], 0.025f);
}

TEST(LearningRateScheduler, SetsTheRateEachEpoch) {
  Sequential model = tiny_model(0.1f);
  std::vector<double> seen;
  auto sched = std::make_shared<LearningRateScheduler>([&](int epoch, double lr) {
    seen.push_back(lr);
    return 0.1 / (1 + epoch);
  });
  model.fit(Tensor({4, 1}, 1.0f), Tensor({4, 1}, 1.0f), {.epochs = 3, .callbacks = {sched}});
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_NEAR(seen[1], 0.1, 1e-7);
  EXPECT_NEAR(seen[2], 0.05, 1e-7);
  EXPECT_NEAR(model.optimizer()->learning_rate(), 0.1 / 3, 1e-7);
}

TEST(CSVLogger, WritesAHeaderAndOneRowPerEpoch) {
  std::string path = ::testing::TempDir() + "/nnkit_csvlogger_test.csv";
  Sequential model = tiny_model();
  auto logger = std::make_shared<CSVLogger>(CSVLoggerOptions{.filename = path});
  model.fit(Tensor({4, 1}, 1.0f), Tensor({4, 1}, 1.0f), {.epochs = 3, .callbacks = {logger}});
  std::ifstream in(path);
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header, "epoch,loss,mae,seconds");
  int rows = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(line.substr(0, 2), std::to_string(rows) + ",");
    EXPECT_EQ(std::count(line.begin(), line.end(), ','), 3) << line;
    EXPECT_GE(std::stod(line.substr(line.rfind(',') + 1)), 0.0) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 3);
  std::filesystem::remove(path);
}

TEST(ProgressBar, PrintsOneLinePerEpochWhenNotATerminal) {
  std::ostringstream out;
  Sequential model = tiny_model();
  auto bar = std::make_shared<ProgressBar>(ProgressBarOptions{.out = &out, .interactive = false});
  model.fit(Tensor({4, 1}, 1.0f), Tensor({4, 1}, 1.0f), {.epochs = 2, .callbacks = {bar}});
  std::string s = out.str();
  EXPECT_NE(s.find("Epoch 1/2 - "), std::string::npos) << s;
  EXPECT_NE(s.find("Epoch 2/2 - "), std::string::npos) << s;
  EXPECT_NE(s.find(" - loss: "), std::string::npos) << s;
  EXPECT_NE(s.find(" - mae: "), std::string::npos) << s;
  EXPECT_EQ(s.find('\r'), std::string::npos);
}

TEST(ProgressBar, DrawsABarOnATerminal) {
  std::ostringstream out;
  Sequential model = tiny_model();
  auto bar = std::make_shared<ProgressBar>(ProgressBarOptions{.out = &out, .interactive = true});
  model.fit(Tensor({64, 1}, 1.0f), Tensor({64, 1}, 1.0f),
            {.epochs = 1, .batch_size = 8, .callbacks = {bar}});
  std::string s = out.str();
  EXPECT_NE(s.find("Epoch 1/1\n"), std::string::npos) << s;
  EXPECT_NE(s.find("8/8 [==============================]"), std::string::npos) << s;
  EXPECT_NE(s.find("/step"), std::string::npos) << s;
}

}  // namespace
}  // namespace nnkit
