#include "nnkit/models/gan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "gradient_check.h"
#include "nnkit/error.h"
#include "nnkit/layers.h"
#include "nnkit/losses.h"
#include "nnkit/optimizers.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;

Sequential compiled(Sequential m, float lr = 0.1f) {
  m.compile(make_sgd({.learning_rate = lr}), make_loss("binary_crossentropy"));
  return m;
}

// G: z [N, 2] -> [N, 2]; D: [N, 2] -> [N, 1], a logit or (sigmoid_d) a probability.
Gan tiny_gan(bool sigmoid_d, uint64_t seed = 3) {
  Sequential g({.input_shape = {2}, .seed = seed});
  g.add(Dense({.units = 3, .activation = "tanh"})).add(Dense({.units = 2}));
  Sequential d({.input_shape = {2}, .seed = seed + 1});
  d.add(Dense({.units = 3, .activation = "tanh"}))
      .add(Dense({.units = 1, .activation = sigmoid_d ? "sigmoid" : "linear"}));
  return Gan(compiled(std::move(g)), compiled(std::move(d)), seed);
}

TEST(Gan, GeneratorStepChangesOnlyTheGenerator) {
  // D with BatchNormalization (running statistics) and Dropout (a mask drawn in Mode::Train).
  Sequential g({.input_shape = {4}, .seed = 1});
  g.add(Dense({.units = 8, .activation = "relu"})).add(Dense({.units = 2}));
  Sequential d({.input_shape = {2}, .seed = 2});
  d.add(Dense({.units = 8}))
      .add(BatchNormalization())
      .add(ActivationLayer({.activation = "relu"}))
      .add(Dropout({.rate = 0.25f}))
      .add(Dense({.units = 1}));
  Gan gan(compiled(std::move(g)), compiled(std::move(d)), 5);
  const std::vector<Tensor> d_before = gan.discriminator().get_weights();
  const std::vector<Tensor> g_before = gan.generator().get_weights();
  const double loss = gan.generator_step(gan.noise(16));
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_GT(loss, 0.0);

  const std::vector<Tensor> d_after = gan.discriminator().get_weights();
  ASSERT_EQ(d_after.size(), d_before.size());
  ASSERT_EQ(d_after.size(), 8u);  // two Dense (weight, bias), BatchNorm (gamma, beta, mean, var)
  for (std::size_t i = 0; i < d_after.size(); ++i) {
    ASSERT_EQ(d_after[i].shape(), d_before[i].shape());
    for (int64_t j = 0; j < d_after[i].size(); ++j)
      EXPECT_EQ(d_after[i].data()[j], d_before[i].data()[j])
          << "D tensor " << i << " [" << j << "]";
  }
  // D's gradients were computed (the step went through it), only not applied.
  double d_grad = 0;
  for (Param* p : gan.discriminator().trainable_params())
    for (float v : p->grad) d_grad += std::abs(v);
  EXPECT_GT(d_grad, 0.0);

  const std::vector<Tensor> g_after = gan.generator().get_weights();
  ASSERT_EQ(g_after.size(), 4u);
  for (std::size_t i = 0; i < g_after.size(); ++i) {
    int64_t changed = 0;
    for (int64_t j = 0; j < g_after[i].size(); ++j)
      changed += g_after[i].data()[j] != g_before[i].data()[j];
    EXPECT_GT(changed, 0) << "G tensor " << i << " unchanged";
  }
}

// −mean log D(G(z)), computed here from the models' inference passes (no dropout or batch
// statistics in the tiny models, so Mode::Infer computes what Mode::Train does).
double generator_loss(Gan& gan, const Tensor& z, bool sigmoid_d) {
  const Tensor out =
      gan.discriminator().forward(gan.generator().forward(z, Mode::Infer), Mode::Infer);
  double loss = 0;
  for (float v : out) {
    const double p = sigmoid_d ? v : 1.0 / (1.0 + std::exp(-static_cast<double>(v)));
    loss -= std::log(p);
  }
  return loss / static_cast<double>(out.dim(0));
}

void check_generator_gradient(bool sigmoid_d) {
  Gan gan = tiny_gan(sigmoid_d);
  const Tensor z = gan.noise(5);
  Sequential& g = gan.generator();
  const std::vector<Tensor> weights = g.get_weights();
  const double loss = gan.generator_step(z);
  std::vector<double> analytic;
  for (Param* p : g.trainable_params())
    for (float v : p->grad) analytic.push_back(v);
  g.set_weights(weights);  // back to the point the gradient was taken at
  EXPECT_NEAR(loss, generator_loss(gan, z, sigmoid_d), 1e-5);

  std::vector<double> numeric;
  const float h = 1e-2f;
  for (Param* p : g.trainable_params()) {
    for (int64_t j = 0; j < p->value.size(); ++j) {
      const float w = p->value.data()[j];
      p->value.data()[j] = w + h;
      const double up = generator_loss(gan, z, sigmoid_d);
      p->value.data()[j] = w - h;
      const double down = generator_loss(gan, z, sigmoid_d);
      p->value.data()[j] = w;
      numeric.push_back((up - down) / (2.0 * h));
    }
  }
  ASSERT_EQ(analytic.size(), 17u);  // 2·3 + 3 + 3·2 + 2
  EXPECT_LT(testing::relative_error(analytic, numeric), 2e-3);
}

TEST(Gan, GeneratorGradientMatchesFiniteDifferencesThroughALogitDiscriminator) {
  check_generator_gradient(false);
}

TEST(Gan, GeneratorGradientMatchesFiniteDifferencesThroughASigmoidDiscriminator) {
  check_generator_gradient(true);
}

// G(z) = 2z + 0.5 and D(x) = 1.5x − 0.5 (a logit, or its sigmoid), one SGD step at lr 0.1.
void check_discriminator_step(bool sigmoid_d) {
  Sequential g({.input_shape = {1}});
  g.add(Dense({.units = 1}));
  g.set_weights({Tensor({1, 1}, {2.0f}), Tensor({1}, {0.5f})});
  Sequential d({.input_shape = {1}});
  d.add(Dense({.units = 1, .activation = sigmoid_d ? "sigmoid" : "linear"}));
  d.set_weights({Tensor({1, 1}, {1.5f}), Tensor({1}, {-0.5f})});
  Gan gan(compiled(std::move(g)), compiled(std::move(d)));

  // Real x = 1, −1 -> logits 1, −2; z = 0, 1 -> fakes 0.5, 2.5 -> logits 0.25, 3.25.
  // Loss = mean(softplus(−1), softplus(2)) + mean(softplus(0.25), softplus(3.25))
  //      = (0.313262 + 2.126928)/2 + (0.825973 + 3.287008)/2 = 3.277085.
  const DiscriminatorStep s =
      gan.discriminator_step(Tensor({2, 1}, {1.0f, -1.0f}), Tensor({2, 1}, {0.0f, 1.0f}));
  EXPECT_NEAR(s.loss, 3.277085, 1e-5);
  EXPECT_NEAR(s.d_real, (0.731059 + 0.119203) / 2, 1e-5);  // σ(1), σ(−2)
  EXPECT_NEAR(s.d_fake, (0.562177 + 0.962673) / 2, 1e-5);  // σ(0.25), σ(3.25)
  // dL/dw = mean((σ − 1)·x) over real + mean(σ·x) over fake = 1.649813;
  // dL/db = mean(σ − 1) + mean(σ) = 0.187556.
  const std::vector<Tensor> w = gan.discriminator().get_weights();
  EXPECT_NEAR(w[0].data()[0], 1.5 - 0.1 * 1.649813, 1e-5);
  EXPECT_NEAR(w[1].data()[0], -0.5 - 0.1 * 0.187556, 1e-5);
  // No gradient reached G.
  const std::vector<Tensor> gw = gan.generator().get_weights();
  EXPECT_EQ(gw[0].data()[0], 2.0f);
  EXPECT_EQ(gw[1].data()[0], 0.5f);
}

TEST(Gan, DiscriminatorStepIsBinaryCrossEntropyAsWorkedByHand) {
  check_discriminator_step(false);
  check_discriminator_step(true);
}

TEST(Gan, LearnsAOneDimensionalGaussian) {
  // Target N(3, 0.5²). G is affine in z, so it can match it exactly; D has tanh units, which
  // see the spread as well as the mean (a piecewise-linear D often let G collapse to a point
  // at the mean). 200 epochs of 16 batches, about 0.6 s.
  Rng rng(11);
  Tensor data({2048, 1});
  for (float& v : data) v = rng.normal(3.0f, 0.5f);
  Sequential g({.input_shape = {1}, .seed = 7});
  g.add(Dense({.units = 1}));
  Sequential d({.input_shape = {1}, .seed = 8});
  d.add(Dense({.units = 16, .activation = "tanh"}))
      .add(Dense({.units = 16, .activation = "tanh"}))
      .add(Dense({.units = 1}));
  g.compile(make_adam({.learning_rate = 0.002f, .beta_1 = 0.5f}), make_loss("binary_crossentropy"));
  d.compile(make_adam({.learning_rate = 0.002f, .beta_1 = 0.5f}), make_loss("binary_crossentropy"));
  Gan gan(std::move(g), std::move(d), 9);
  int calls = 0;
  const std::vector<GanEpoch> history =
      gan.train(data, {.epochs = 200, .batch_size = 128}, [&](const GanEpoch& e) {
        EXPECT_EQ(e.epoch, calls);
        ++calls;
      });
  EXPECT_EQ(calls, 200);
  ASSERT_EQ(history.size(), 200u);
  const Tensor s = gan.sample(4000);
  double sum = 0, sq = 0;
  for (float v : s) sum += v;
  const double mean = sum / 4000;
  for (float v : s) sq += (v - mean) * (v - mean);
  const double sd = std::sqrt(sq / 3999);
  EXPECT_NEAR(mean, 3.0, 0.1);
  EXPECT_NEAR(sd, 0.5, 0.1);
  // At the equilibrium D cannot tell: D(x) and D(G(z)) both near 1/2.
  EXPECT_NEAR(history.back().d_real, 0.5, 0.05);
  EXPECT_NEAR(history.back().d_fake, 0.5, 0.05);
}

TEST(Gan, RefusesModelsThatDoNotFit) {
  auto g = [](Shape input) {
    Sequential m({.input_shape = std::move(input)});
    m.add(Dense({.units = 2}));
    return m;
  };
  auto d = [](int64_t units) {
    Sequential m;
    m.add(Dense({.units = units}));
    return m;
  };
  expect_throw_containing<ValueError>([&] { Gan(compiled(g({})), compiled(d(1))); },
                                      "generator's input_shape must be {noise_dim}, got none");
  expect_throw_containing<ValueError>(
      [&] {
        Gan(compiled(g({2, 2})), compiled(d(1)));
      },
      "generator's input_shape must be {noise_dim}");
  expect_throw_containing<ValueError>([&] { Gan(g({2}), compiled(d(1))); },
                                      "compile the generator");
  expect_throw_containing<ValueError>([&] { Gan(compiled(g({2})), d(1)); },
                                      "compile the discriminator");
  expect_throw_containing<ValueError>([&] { Gan(compiled(g({2})), compiled(d(2))); },
                                      "discriminator must output [1] per sample, got [2]");
  Sequential d3({.input_shape = {3}});
  d3.add(Dense({.units = 1}));
  expect_throw_containing<ValueError>(
      [&] { Gan(compiled(g({2})), compiled(std::move(d3))); },
      "discriminator takes samples of shape [3], the generator makes [2]");
}

TEST(Gan, RefusesBadOptionsAndShapes) {
  Gan gan = tiny_gan(false);
  const Tensor data({10, 2}, 0.5f);
  expect_throw_containing<ValueError>([&] { gan.train(data, {.epochs = 0}); },
                                      "epochs must be >= 1, got 0");
  expect_throw_containing<ValueError>([&] { gan.train(data, {.discriminator_steps = 0}); },
                                      "discriminator_steps must be >= 1, got 0");
  expect_throw_containing<ValueError>([&] { gan.train(data, {.batch_size = 11}); },
                                      "batch_size must be in [1, 10] (the samples), got 11");
  expect_throw_containing<ShapeError>(
      [&] {
        gan.train(Tensor({10, 3}), {.batch_size = 2});
      },
      "data must hold N >= 1 samples of shape [2], got [10, 3]");
  expect_throw_containing<ShapeError>(
      [&] {
        gan.discriminator_step(Tensor({4, 2}), Tensor({3, 2}));
      },
      "real has 4 samples but z has 3");
  expect_throw_containing<ShapeError>(
      [&] {
        gan.generator_step(Tensor({4, 3}));
      },
      "z must hold N >= 1 samples of shape [2], got [4, 3]");
  expect_throw_containing<ValueError>([&] { gan.sample(0); }, "n must be >= 1, got 0");
}

TEST(Gan, DiscriminatorStepsPerGeneratorStep) {
  // 8 samples, batch 2: 4 discriminator steps an epoch; with k = 3 the generator steps after
  // the 3rd, 6th, 9th and 12th over three epochs, so its weights change in every epoch.
  Gan gan = tiny_gan(false);
  Tensor data({8, 2});
  Rng rng(1);
  for (float& v : data) v = rng.normal();
  std::vector<std::vector<Tensor>> g_weights{gan.generator().get_weights()};
  gan.train(data, {.epochs = 3, .batch_size = 2, .discriminator_steps = 3},
            [&](const GanEpoch&) { g_weights.push_back(gan.generator().get_weights()); });
  for (int e = 1; e <= 3; ++e)
    EXPECT_NE(g_weights[e][0].data()[0], g_weights[e - 1][0].data()[0]) << "epoch " << e;
  // k larger than the whole run: the generator never steps.
  Gan idle = tiny_gan(false);
  const std::vector<Tensor> before = idle.generator().get_weights();
  const std::vector<GanEpoch> h =
      idle.train(data, {.epochs = 2, .batch_size = 2, .discriminator_steps = 100});
  EXPECT_EQ(h[1].g_loss, 0.0);
  EXPECT_EQ(idle.generator().get_weights()[0].data()[0], before[0].data()[0]);
}

}  // namespace
}  // namespace nnkit
