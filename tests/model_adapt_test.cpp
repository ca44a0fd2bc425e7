// Sequential::fit's data-dependent initialisation (Layer::adapt): called once per fresh run,
// with the training inputs as they reach the layer, never on resume; and the RBF layer's
// k-means initialisation through it.
#include <gtest/gtest.h>

#include <cmath>

#include "nnkit/layers.h"
#include "nnkit/model.h"

namespace nnkit {
namespace {

// An identity layer that wants adapt() until it has had it, and records the calls.
class Recorder final : public Layer {
 public:
  int calls = 0;
  Tensor seen;

  std::string type() const override { return "Recorder"; }
  Shape build(const Shape& input, Rng&) override {
    input_shape_ = output_shape_ = input;
    return input;
  }
  Tensor forward(const Tensor& x, Mode) override { return x; }
  Tensor backward(const Tensor& dy) override { return dy; }
  nlohmann::json config() const override { return {{"type", "Recorder"}}; }
  bool wants_adapt() const override { return calls == 0; }
  void adapt(const Tensor& inputs, Rng&) override {
    ++calls;
    seen = inputs;
  }
};

// Dense (weights set by hand) -> Dropout -> Recorder -> Dense(1), on 300 samples (more than
// one batch of the hook's forward passes).
struct Fixture {
  Sequential model{{.input_shape = {2}, .seed = 3}};
  Recorder* recorder = nullptr;
  Tensor x{{300, 2}}, y{{300, 1}};

  Fixture() {
    model.add(Dense({.units = 2}));
    model.add(Dropout({.rate = 0.5f}));
    auto rec = std::make_unique<Recorder>();
    recorder = rec.get();
    model.add(std::unique_ptr<Layer>(std::move(rec)));
    model.add(Dense({.units = 1}));
    model.build({2});
    auto w = model.get_weights();
    w[0] = Tensor({2, 2}, {1, 2, -1, 0.5f});
    w[1] = Tensor({2}, {0.25f, -3});
    model.set_weights(w);
    model.compile(make_sgd({.learning_rate = 0.01f}), make_loss("mse"));
    for (int i = 0; i < 300; ++i) {
      x[i * 2] = static_cast<float>(i) / 100.0f;
      x[i * 2 + 1] = static_cast<float>(i % 7);
    }
  }
};

TEST(SequentialAdapt, CalledOnceWithTheInputsAsTheyReachTheLayer) {
  Fixture f;
  f.model.fit(f.x, f.y, {.epochs = 2, .batch_size = 50, .validation_split = 0.1});
  EXPECT_EQ(f.recorder->calls, 1);
  // The training part only (270 of 300), through Dense by hand and Dropout in inference mode
  // (identity): h = (x0 + 2·x1 + 0.25, −x0 + 0.5·x1 − 3).
  ASSERT_EQ(f.recorder->seen.shape(), (Shape{270, 2}));
  for (int i = 0; i < 270; ++i) {
    float x0 = static_cast<float>(i) / 100.0f, x1 = static_cast<float>(i % 7);
    EXPECT_NEAR(f.recorder->seen[i * 2], x0 + 2 * x1 + 0.25f, 1e-5) << i;
    EXPECT_NEAR(f.recorder->seen[i * 2 + 1], -x0 + 0.5f * x1 - 3, 1e-5) << i;
  }
  // A second fit() continues: the layer no longer wants it.
  f.model.fit(f.x, f.y, {.epochs = 1});
  EXPECT_EQ(f.recorder->calls, 1);
}

TEST(SequentialAdapt, NotCalledOnResume) {
  Fixture f;
  f.model.fit(f.x, f.y, {.epochs = 2, .resume = FitPosition{.epoch = 1}});
  EXPECT_EQ(f.recorder->calls, 0);
}

TEST(SequentialAdapt, KMeansPutsRbfCentresOnTheClusters) {
  // Two tight clusters around (−3, 0) and (3, 0); "kmeans" starts the centres on them, "random"
  // leaves them where build() drew them, in [−1, 1).
  Tensor x({200, 2}), y({200, 1});
  Rng rng(11);
  for (int i = 0; i < 200; ++i) {
    x[i * 2] = (i % 2 ? 3.0f : -3.0f) + rng.normal(0.0f, 0.1f);
    x[i * 2 + 1] = rng.normal(0.0f, 0.1f);
    y[i] = i % 2 ? 1.0f : 0.0f;
  }
  for (const char* init : {"kmeans", "random"}) {
    nlohmann::json spec = {{"input_shape", {2}},
                           {"layers",
                            {{{"type", "RBF"}, {"units", 2}, {"initializer", init}},
                             {{"type", "Dense"}, {"units", 1}}}},
                           {"loss", "mse"},
                           {"optimizer", {{"type", "sgd"}, {"learning_rate", 1e-6}}},
                           {"seed", 5}};
    Sequential model = Sequential::from_spec(spec);
    model.fit(x, y, {.epochs = 1});
    const Tensor& c = model.layer(0).params()[0]->value;
    const bool kmeans = std::string(init) == "kmeans";
    for (int j = 0; j < 2; ++j) {
      EXPECT_EQ(std::fabs(c[j * 2]) > 2.8f, kmeans) << init << " " << c[j * 2];
      if (kmeans) {
        EXPECT_NEAR(c[j * 2 + 1], 0.0f, 0.05f);
      }
    }
    if (kmeans) {
      EXPECT_LT(c[0] * c[2], 0.0f);  // one on each cluster
    }
  }
}

}  // namespace
}  // namespace nnkit
