#include "nnkit/io/checkpoint.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "nnkit/callbacks.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"
#include "nnkit/io/safetensors.h"
#include "nnkit/layers.h"
#include "scratch_dir.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;
using testing::ScratchDir;

// Every kind of state a run carries: shuffling, dropout masks (a Dropout layer and an LSTM's
// input dropout), Adam's moments and step count, validation.
nlohmann::json spec() {
  return {{"input_shape", {5, 3}},
          {"seed", 11},
          {"layers",
           {{{"type", "LSTM"}, {"units", 6}, {"dropout", 0.2}},
            {{"type", "Dropout"}, {"rate", 0.3}},
            {{"type", "Dense"}, {"units", 2}}}},
          {"loss", "mse"},
          {"optimizer", {{"type", "adam"}, {"learning_rate", 0.01}}}};
}

struct Data {
  Tensor x, y;
};
Data data() {
  Rng rng(3);
  Data d{Tensor({40, 5, 3}), Tensor({40, 2})};
  for (float& v : d.x) v = rng.uniform(-1.0f, 1.0f);
  for (float& v : d.y) v = rng.uniform(-1.0f, 1.0f);
  return d;
}

FitOptions options() { return {.epochs = 4, .batch_size = 7, .validation_split = 0.2}; }

// Saves a checkpoint and stops training at a point: at the end of epoch `epoch` (batch < 0) or
// after batch `batch` of it — a run killed there, as far as the checkpoint can tell.
class StopAndSave final : public Callback {
 public:
  StopAndSave(std::string path, int epoch, int64_t batch)
      : path_(path), epoch_(epoch), batch_(batch) {}
  void on_epoch_begin(Sequential&, int epoch) override { epoch_now_ = epoch; }
  void on_batch_end(Sequential& model, int64_t batch, const Logs&) override {
    if (epoch_now_ == epoch_ && batch == batch_) save(model);
  }
  void on_epoch_end(Sequential& model, int epoch, const Logs&) override {
    if (epoch == epoch_ && batch_ < 0) save(model);
  }

 private:
  void save(Sequential& model) {
    if (saved_) return;
    saved_ = true;
    save_checkpoint(path_, model, capture_checkpoint(model));
    model.stop_training = true;
  }
  std::string path_;
  int epoch_ = 0, epoch_now_ = -1;
  int64_t batch_ = 0;
  bool saved_ = false;
};

std::vector<Tensor> uninterrupted() {
  Data d = data();
  Sequential model = Sequential::from_spec(spec());
  model.fit(d.x, d.y, options());
  return model.get_weights();
}

std::vector<Tensor> interrupted_and_resumed(const std::string& path, int epoch, int64_t batch) {
  Data d = data();
  {
    Sequential model = Sequential::from_spec(spec());
    FitOptions first = options();
    first.callbacks.push_back(std::make_shared<StopAndSave>(path, epoch, batch));
    model.fit(d.x, d.y, first);
  }
  Checkpoint checkpoint;
  Sequential model = load_checkpoint(path, &checkpoint);
  FitOptions rest = options();
  rest.resume = checkpoint.position;
  model.fit(d.x, d.y, rest);
  return model.get_weights();
}

void expect_same_weights(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].shape(), b[i].shape());
    for (int64_t j = 0; j < a[i].size(); ++j) {
      ASSERT_EQ(a[i].data()[j], b[i].data()[j]) << "tensor " << i << " element " << j;
    }
  }
}

TEST(Checkpoint, ResumedAtAnEpochEndEndsWithTheWeightsOfOneRun) {
  ScratchDir dir;
  expect_same_weights(interrupted_and_resumed(dir.file("c.safetensors"), 1, -1), uninterrupted());
}

TEST(Checkpoint, ResumedInsideAnEpochEndsWithTheWeightsOfOneRun) {
  ScratchDir dir;
  expect_same_weights(interrupted_and_resumed(dir.file("c.safetensors"), 2, 1), uninterrupted());
}

TEST(Checkpoint, AResumedRunDiffersWithoutTheSavedState) {
  // The test above can fail: starting the rest of the run from the checkpoint's weights but a
  // fresh optimizer gives other weights.
  ScratchDir dir;
  const std::string path = dir.file("c.safetensors");
  interrupted_and_resumed(path, 1, -1);
  Checkpoint checkpoint;
  Sequential model = load_checkpoint(path, &checkpoint);
  model.compile(make_adam({.learning_rate = 0.01f}), make_loss("mse"));
  Data d = data();
  FitOptions rest = options();
  rest.resume = checkpoint.position;
  model.fit(d.x, d.y, rest);
  std::vector<Tensor> fresh = model.get_weights(), one_run = uninterrupted();
  bool differs = false;
  for (std::size_t i = 0; i < fresh.size(); ++i) {
    for (int64_t j = 0; j < fresh[i].size(); ++j)
      differs |= fresh[i].data()[j] != one_run[i].data()[j];
  }
  EXPECT_TRUE(differs);
}

TEST(Checkpoint, KeepsPositionHistoryExtraAndGenerators) {
  ScratchDir dir;
  const std::string path = dir.file("c.safetensors");
  Data d = data();
  Sequential model = Sequential::from_spec(spec());
  History history = model.fit(d.x, d.y, {.epochs = 2, .batch_size = 7});
  history.values["loss"][0] = NAN;  // a missing value survives as NaN
  Checkpoint saved = capture_checkpoint(model, history);
  saved.extra = {{"note", "hello"}};
  saved.extra_tensors.emplace_back("best.w", Tensor({2}, {1.5f, -2.0f}));
  save_checkpoint(path, model, saved, {{"nnkit.preprocess", "{}"}});

  Checkpoint loaded;
  std::map<std::string, std::string> metadata;
  Sequential back = load_checkpoint(path, &loaded, &metadata);
  EXPECT_EQ(loaded.position.epoch, 2);
  EXPECT_EQ(loaded.position.step, 0);
  EXPECT_EQ(loaded.position.epoch_rng, model.rngs()[0]->state());
  EXPECT_EQ(loaded.optimizer_iterations, 2 * 6);  // 2 epochs of ceil(40 / 7) batches
  EXPECT_EQ(back.optimizer()->iterations(), 12);
  ASSERT_EQ(loaded.rngs.size(), 3u);  // the model's, the LSTM's dropout, Dropout's
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(back.rngs()[i]->state(), model.rngs()[i]->state());
  EXPECT_TRUE(std::isnan(loaded.history["loss"][0]));
  EXPECT_EQ(loaded.history["loss"][1], history["loss"][1]);
  EXPECT_EQ(loaded.extra["note"], "hello");
  ASSERT_EQ(loaded.extra_tensors.size(), 1u);
  EXPECT_EQ(loaded.extra_tensors[0].first, "best.w");
  EXPECT_EQ(loaded.extra_tensors[0].second.data()[1], -2.0f);
  EXPECT_EQ(metadata.at("nnkit.preprocess"), "{}");
  // Adam's moments: two per trainable tensor.
  EXPECT_EQ(back.optimizer()->state().size(), 2 * back.trainable_params().size());
  expect_same_weights(back.get_weights(), model.get_weights());
}

TEST(Checkpoint, RefusesModelFilesAndDamagedState) {
  ScratchDir dir;
  Data d = data();
  Sequential model = Sequential::from_spec(spec());
  model.fit(d.x, d.y, {.epochs = 1, .batch_size = 20});
  save_model(dir.file("model.safetensors"), model);
  expect_throw_containing<FormatError>(
      [&] { load_checkpoint(dir.file("model.safetensors"), nullptr); }, "not a checkpoint");

  save_checkpoint(dir.file("c.safetensors"), model, capture_checkpoint(model));
  SafetensorsFile file = read_safetensors(dir.file("c.safetensors"));
  auto rewrite = [&](auto change) {
    SafetensorsFile copy = file;
    change(copy);
    write_safetensors(dir.file("bad.safetensors"), copy);
  };
  rewrite([](SafetensorsFile& f) {
    std::erase_if(f.tensors, [](const auto& t) { return t.first == "optimizer.0.exp_avg"; });
  });
  expect_throw_containing<FormatError>(
      [&] { load_checkpoint(dir.file("bad.safetensors"), nullptr); },
      "optimizer tensor 'optimizer.0.exp_avg' is missing");
  rewrite([](SafetensorsFile& f) { f.tensors.emplace_back("optimizer.99.exp_avg", Tensor({1})); });
  expect_throw_containing<FormatError>(
      [&] { load_checkpoint(dir.file("bad.safetensors"), nullptr); },
      "'optimizer.99.exp_avg' belongs to no parameter");
  rewrite([](SafetensorsFile& f) {
    for (auto& [name, t] : f.tensors)
      if (name == "optimizer.1.exp_avg_sq") t = Tensor({1});
  });
  expect_throw_containing<FormatError>(
      [&] { load_checkpoint(dir.file("bad.safetensors"), nullptr); },
      "'optimizer.1.exp_avg_sq' has shape [1]");
  rewrite([](SafetensorsFile& f) {
    auto state = nlohmann::json::parse(f.metadata["nnkit.checkpoint"]);
    state["rngs"].erase(0);
    f.metadata["nnkit.checkpoint"] = state.dump();
  });
  expect_throw_containing<FormatError>(
      [&] { load_checkpoint(dir.file("bad.safetensors"), nullptr); },
      "2 generator states, the model 3");
  rewrite([](SafetensorsFile& f) { f.metadata["nnkit.checkpoint"] = "{\"position\": 3}"; });
  expect_throw_containing<FormatError>(
      [&] { load_checkpoint(dir.file("bad.safetensors"), nullptr); },
      "\"nnkit.checkpoint\" is malformed");
}

TEST(Checkpoint, ResumePositionIsChecked) {
  Data d = data();
  Sequential model = Sequential::from_spec(spec());
  FitOptions o = options();
  o.resume = FitPosition{.epoch = 0, .step = 99};
  expect_throw_containing<ValueError>([&] { model.fit(d.x, d.y, o); },
                                      "cannot resume at epoch 0, batch 99: an epoch has 5 batches");
}

TEST(EarlyStoppingState, ResumedRunContinuesTheCount) {
  Sequential model({.input_shape = {1}});
  model.add(Dense({.units = 1}));
  EarlyStopping es({.monitor = "loss", .patience = 2});
  es.resume({.best = 0.5, .best_epoch = 3, .wait = 1});
  es.on_train_begin(model, {});
  EXPECT_EQ(es.best_epoch(), 3);
  es.on_epoch_end(model, 4, {{"loss", 0.7}});  // the second epoch without improvement
  ASSERT_TRUE(es.stopped_epoch());
  EXPECT_EQ(*es.stopped_epoch(), 4);
  // A later fit starts afresh.
  es.on_train_begin(model, {});
  EXPECT_EQ(es.best_epoch(), -1);
  EXPECT_EQ(es.state().wait, 0);
}

}  // namespace
}  // namespace nnkit
