#include "nnkit/optimizers.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nnkit/error.h"
#include "test_util.h"

namespace nnkit {
namespace {

// ---- PyTorch references ----
//
// One parameter w0 = [0.5, -1, 2, 0] gets the four gradients kGrads in turn (a zero entry
// included); each k* table is w after every step. The numbers come from torch 1.13 (Debian's
// python3-torch), float32, with:
//
//   p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float32)); opt = OPT([p])
//   for g in grads: p.grad = torch.tensor(g, dtype=torch.float32); opt.step(); print(p)
//
// where OPT is the torch call named above each table.
constexpr int kSteps = 4;
constexpr int kSize = 4;
constexpr float kW0[kSize] = {0.5f, -1.0f, 2.0f, 0.0f};
constexpr float kGrads[kSteps][kSize] = {{0.1f, -0.2f, 0.3f, 0.0f},
                                         {-0.5f, 0.4f, 0.05f, 1.0f},
                                         {0.2f, 0.2f, -0.3f, -1.0f},
                                         {0.01f, -0.01f, 0.0f, 0.001f}};

// torch.optim.SGD(ps, lr=0.1, momentum=0.9)
constexpr float kSgdMomentum[kSteps][kSize] = {
    {0.49000001f, -0.980000019f, 1.97000003f, 0.0f},
    {0.531000018f, -1.00199997f, 1.93800008f, -0.100000001f},
    {0.547900021f, -1.04180002f, 1.93920004f, -0.0899999961f},
    {0.562110007f, -1.07661998f, 1.94028008f, -0.0810999945f},
};
// torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)
constexpr float kSgdNesterov[kSteps][kSize] = {
    {0.481000006f, -0.962000012f, 1.94299996f, 0.0f},
    {0.567900002f, -1.02180004f, 1.90919995f, -0.189999998f},
    {0.563109994f, -1.07762003f, 1.94027996f, -0.0809999928f},
    {0.574899018f, -1.10795808f, 1.94125199f, -0.0730899945f},
};
// torch.optim.Adam(ps, lr=0.1, betas=(0.9, 0.999), eps=1e-7)
constexpr float kAdam[kSteps][kSize] = {
    {0.400000095f, -0.900000036f, 1.9000001f, 0.0f},
    {0.4598355f, -0.936610401f, 1.82166743f, -0.0744136721f},
    {0.479554981f, -0.988534451f, 1.82346272f, -0.0698954463f},
    {0.49464345f, -1.02987146f, 1.82493329f, -0.0662355125f},
};
// torch.optim.Adam(ps, lr=0.1, betas=(0.9, 0.9), eps=1e-7)
constexpr float kAdamBeta2Low[kSteps][kSize] = {
    {0.400000095f, -0.900000036f, 1.89999998f, 0.0f},
    {0.458446413f, -0.936051071f, 1.81966031f, -0.0725476146f},
    {0.478090912f, -0.988023102f, 1.82145405f, -0.0681406558f},
    {0.493543714f, -1.03055859f, 1.82296467f, -0.0644705743f},
};
// torch.optim.AdamW(ps, lr=0.1, betas=(0.9, 0.9), eps=1e-7, weight_decay=0.1, amsgrad=True)
constexpr float kAdamWAmsgrad[kSteps][kSize] = {
    {0.3950001f, -0.890000045f, 1.88f, 0.0f},
    {0.449496418f, -0.917151093f, 1.78381586f, -0.0725476146f},
    {0.464645952f, -0.959951639f, 1.76777148f, -0.0674151778f},
    {0.474662304f, -0.990715206f, 1.75152683f, -0.0632592812f},
};
// torch.optim.Adam(ps, lr=0.1, betas=(0.9, 0.9), eps=1e-7, amsgrad=True)
constexpr float kAdamAmsgrad[kSteps][kSize] = {
    {0.400000095f, -0.900000036f, 1.89999998f, 0.0f},
    {0.458446413f, -0.936051071f, 1.82261586f, -0.0725476146f},
    {0.478090912f, -0.988023102f, 1.8244096f, -0.0681406558f},
    {0.492753714f, -1.02838612f, 1.82584262f, -0.06465891f},
};
// torch.optim.AdamW(ps, lr=0.1, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.1)
constexpr float kAdamW[kSteps][kSize] = {
    {0.3950001f, -0.890000045f, 1.88000011f, 0.0f},
    {0.450885504f, -0.917710423f, 1.78286743f, -0.0744136721f},
    {0.466096133f, -0.960457385f, 1.76683402f, -0.0691513121f},
    {0.476523638f, -0.992189825f, 1.75063622f, -0.0647998676f},
};
// torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7)
constexpr float kRmsprop[kSteps][kSize] = {
    {0.468377322f, -0.968377292f, 1.96837723f, 0.0f},
    {0.499445796f, -0.996948719f, 1.96290553f, -0.0316227674f},
    {0.48734346f, -1.01054442f, 1.98624992f, -0.00868120044f},
    {0.48670575f, -1.00982809f, 1.98624992f, -0.00870538317f},
};
// torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7, momentum=0.5, centered=True)
constexpr float kRmspropCenteredMomentum[kSteps][kSize] = {
    {0.466666788f, -0.966666698f, 1.9666667f, 0.0f},
    {0.482128769f, -0.978930891f, 1.94415843f, -0.0333333239f},
    {0.477693647f, -0.999185383f, 1.95624959f, -0.0270523764f},
    {0.474835724f, -1.00857282f, 1.96229517f, -0.023936091f},
};
// torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7, momentum=0.5)
constexpr float kRmspropMomentum[kSteps][kSize] = {
    {0.468377322f, -0.968377292f, 1.96837723f, 0.0f},
    {0.483634442f, -0.981137335f, 1.94709408f, -0.0316227674f},
    {0.479160666f, -1.00111306f, 1.95979691f, -0.0244925842f},
    {0.476286054f, -1.01038456f, 1.96614826f, -0.0209516753f},
};
// torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-7, centered=True)
constexpr float kRmspropCentered[kSteps][kSize] = {
    {0.466666788f, -0.966666698f, 1.9666667f, 0.0f},
    {0.49879536f, -0.995597541f, 1.96082509f, -0.0333333202f},
    {0.486629248f, -1.00971997f, 1.98417044f, -0.0103857126f},
    {0.485988885f, -1.00898015f, 1.98417044f, -0.0104099009f},
};
// torch.optim.Adagrad(ps, lr=0.1, initial_accumulator_value=0.1, eps=1e-7)
constexpr float kAdagrad[kSteps][kSize] = {
    {0.469848871f, -0.946547747f, 1.93117523f, 0.0f},
    {0.553182185f, -1.01957738f, 1.91977918f, -0.0953462496f},
    {0.521559417f, -1.05387712f, 1.9762224f, -0.0263397023f},
    {0.519978464f, -1.05216241f, 1.9762224f, -0.0264087096f},
};

Param make_param(const std::string& name, Shape shape, const std::vector<float>& values) {
  Param p{.name = name, .value = Tensor(shape, values), .grad = Tensor(shape)};
  return p;
}

// Runs the four reference steps and compares w after each with the table. Float32 rounding
// differs between the two codes in the last bits only.
void expect_trajectory(Optimizer& optimizer, const float (&expected)[kSteps][kSize]) {
  Param p = make_param("weight", {kSize}, {kW0, kW0 + kSize});
  for (int t = 0; t < kSteps; ++t) {
    p.grad = Tensor({kSize}, {kGrads[t], kGrads[t] + kSize});
    optimizer.step({&p});
    for (int i = 0; i < kSize; ++i) {
      EXPECT_NEAR(p.value[i], expected[t][i], 2e-6) << "step " << t + 1 << ", element " << i;
    }
  }
  EXPECT_EQ(optimizer.iterations(), kSteps);
}

// ---- updates ----

TEST(SGD, PlainStepByHand) {
  auto sgd = make_sgd({.learning_rate = 0.1f});
  Param p = make_param("w", {3}, {1, 2, 3});
  p.grad = Tensor({3}, {1, -2, 0.5f});
  sgd->step({&p});
  EXPECT_EQ(p.value.to_vector(), (std::vector<float>{0.9f, 2.2f, 2.95f}));
  EXPECT_TRUE(sgd->state().empty());  // no momentum, no state
  // step() reads the grads and leaves them as they were.
  EXPECT_EQ(p.grad.to_vector(), (std::vector<float>{1, -2, 0.5f}));
}

TEST(SGD, MomentumMatchesPyTorch) {
  auto sgd = make_sgd({.learning_rate = 0.1f, .momentum = 0.9f});
  expect_trajectory(*sgd, kSgdMomentum);
}

TEST(SGD, NesterovMatchesPyTorch) {
  auto sgd = make_sgd({.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true});
  expect_trajectory(*sgd, kSgdNesterov);
}

TEST(Adam, FirstStepIsLearningRateTimesSignByHand) {
  // m̂ = g and v̂ = g² after one step: w -= lr·g / (|g| + eps).
  auto adam = make_adam({.learning_rate = 0.1f});
  Param p = make_param("w", {3}, {1, 1, 1});
  p.grad = Tensor({3}, {0.5f, -2, 0});
  adam->step({&p});
  EXPECT_NEAR(p.value[0], 0.9f, 1e-6);
  EXPECT_NEAR(p.value[1], 1.1f, 1e-6);
  EXPECT_EQ(p.value[2], 1.0f);
}

TEST(Adam, MatchesPyTorch) {
  auto adam =
      make_adam({.learning_rate = 0.1f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f});
  expect_trajectory(*adam, kAdam);
  auto low = make_adam({.learning_rate = 0.1f, .beta_2 = 0.9f});
  expect_trajectory(*low, kAdamBeta2Low);
}

TEST(Adam, AmsgradMatchesPyTorch) {
  // With beta_2 = 0.9 the last step's v falls below its maximum: amsgrad differs from Adam.
  auto adam = make_adam({.learning_rate = 0.1f, .beta_2 = 0.9f, .amsgrad = true});
  expect_trajectory(*adam, kAdamAmsgrad);
  EXPECT_NE(kAdamAmsgrad[3][0], kAdamBeta2Low[3][0]);
}

TEST(AdamW, MatchesPyTorch) {
  auto adamw = make_adamw({.learning_rate = 0.1f, .weight_decay = 0.1f});
  expect_trajectory(*adamw, kAdamW);
  auto ams =
      make_adamw({.learning_rate = 0.1f, .weight_decay = 0.1f, .beta_2 = 0.9f, .amsgrad = true});
  expect_trajectory(*ams, kAdamWAmsgrad);
}

TEST(AdamW, DecaysWeightsWithoutGradient) {
  // g = 0: Adam's step is zero, only w·(1 - lr·weight_decay) remains.
  auto adamw = make_adamw({.learning_rate = 0.1f, .weight_decay = 0.5f});
  Param p = make_param("w", {2}, {2, -4});
  adamw->step({&p});
  EXPECT_FLOAT_EQ(p.value[0], 1.9f);
  EXPECT_FLOAT_EQ(p.value[1], -3.8f);
}

TEST(RMSprop, MatchesPyTorch) {
  RMSpropOptions base{.learning_rate = 0.01f, .rho = 0.9f, .epsilon = 1e-7f};
  {
    SCOPED_TRACE("plain");
    expect_trajectory(*make_rmsprop(base), kRmsprop);
  }
  {
    SCOPED_TRACE("momentum");
    RMSpropOptions o = base;
    o.momentum = 0.5f;
    expect_trajectory(*make_rmsprop(o), kRmspropMomentum);
  }
  {
    SCOPED_TRACE("centered");
    RMSpropOptions o = base;
    o.centered = true;
    expect_trajectory(*make_rmsprop(o), kRmspropCentered);
  }
  {
    SCOPED_TRACE("centered, momentum");
    RMSpropOptions o = base;
    o.centered = true;
    o.momentum = 0.5f;
    expect_trajectory(*make_rmsprop(o), kRmspropCenteredMomentum);
  }
}

TEST(Adagrad, MatchesPyTorch) {
  auto adagrad = make_adagrad({.learning_rate = 0.1f, .initial_accumulator_value = 0.1f});
  expect_trajectory(*adagrad, kAdagrad);
}

TEST(Adagrad, AccumulatorStartsAtInitialValueByHand) {
  auto adagrad =
      make_adagrad({.learning_rate = 1.0f, .initial_accumulator_value = 0.5f, .epsilon = 0.0f});
  Param p = make_param("w", {1}, {0});
  p.grad = Tensor({1}, {0.5f});
  adagrad->step({&p});
  // a = 0.5 + 0.25; w = -0.5 / √0.75
  EXPECT_FLOAT_EQ(p.value[0], static_cast<float>(-0.5 / std::sqrt(0.75)));
  auto state = adagrad->state();
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0].first, "0.sum");
  EXPECT_FLOAT_EQ((*state[0].second)[0], 0.75f);
}

TEST(Optimizers, LargeTensorsTakeTheParallelPathWithTheSameResults) {
  // 80000 elements: the updates run over OpenMP threads. Tiling the reference problem
  // must reproduce the reference trajectory in every tile.
  constexpr int64_t kTiles = 20000;
  for (int kind = 0; kind < 3; ++kind) {
    SCOPED_TRACE(kind);
    std::unique_ptr<Optimizer> optimizer =
        kind == 0   ? make_adam({.learning_rate = 0.1f})
        : kind == 1 ? make_sgd({.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true})
                    : make_rmsprop({.learning_rate = 0.01f, .momentum = 0.5f, .centered = true});
    const auto& expected = kind == 0 ? kAdam : kind == 1 ? kSgdNesterov : kRmspropCenteredMomentum;
    Param p{.name = "w", .value = Tensor({kTiles, kSize}), .grad = Tensor({kTiles, kSize})};
    for (int64_t i = 0; i < p.value.size(); ++i) p.value[i] = kW0[i % kSize];
    for (int t = 0; t < kSteps; ++t) {
      for (int64_t i = 0; i < p.grad.size(); ++i) p.grad[i] = kGrads[t][i % kSize];
      optimizer->step({&p});
    }
    for (int64_t i = 0; i < p.value.size(); ++i) {
      ASSERT_NEAR(p.value[i], expected[kSteps - 1][i % kSize], 2e-6) << "element " << i;
    }
  }
}

// ---- state, frozen parameters, resuming ----

TEST(Optimizers, StateIsNamedByPositionAndSlotAndSkipsFrozenParams) {
  auto adam = make_adam({.amsgrad = true});
  Param w = make_param("weight", {2, 2}, {1, 2, 3, 4});
  Param frozen = make_param("running_mean", {2}, {5, 6});
  frozen.trainable = false;
  frozen.grad = Tensor({2}, {1, 1});  // ignored
  Param b = make_param("bias", {2}, {0, 0});
  std::vector<Param*> params{&w, &frozen, &b};
  EXPECT_TRUE(adam->state().empty());
  w.grad.fill(1.0f);
  b.grad.fill(-1.0f);
  adam->step(params);
  EXPECT_EQ(frozen.value.to_vector(), (std::vector<float>{5, 6}));
  EXPECT_EQ(frozen.grad.to_vector(), (std::vector<float>{1, 1}));
  std::vector<std::string> names;
  for (auto& [name, tensor] : adam->state()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq",
                                             "2.exp_avg", "2.exp_avg_sq", "2.max_exp_avg_sq"}));
  // exp_avg = (1 - 0.9)·g after one step.
  EXPECT_NEAR((*adam->state()[3].second)[0], -0.1f, 1e-7);
  EXPECT_EQ(adam->state()[0].second->shape(), (Shape{2, 2}));

  auto sgd = make_sgd({.momentum = 0.9f});
  sgd->build(params);
  ASSERT_EQ(sgd->state().size(), 2u);
  EXPECT_EQ(sgd->state()[0].first, "0.momentum_buffer");
  auto rms = make_rmsprop({.momentum = 0.5f, .centered = true});
  rms->build(params);
  names.clear();
  for (auto& [name, tensor] : rms->state()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.square_avg", "0.momentum_buffer", "0.grad_avg",
                                             "2.square_avg", "2.momentum_buffer", "2.grad_avg"}));
}

TEST(Optimizers, ResumingFromCopiedStateContinuesExactly) {
  // A runs four steps; B runs two, is "saved", and C is rebuilt from B's state and
  // iteration count and runs the last two. C must end where A did.
  auto a = make_adam({.learning_rate = 0.1f});
  auto b = make_adam({.learning_rate = 0.1f});
  auto c = make_adam({.learning_rate = 0.1f});
  Param pa = make_param("w", {kSize}, {kW0, kW0 + kSize});
  Param pb = pa;
  for (int t = 0; t < kSteps; ++t) {
    pa.grad = Tensor({kSize}, {kGrads[t], kGrads[t] + kSize});
    a->step({&pa});
    if (t < 2) {
      pb.grad = pa.grad;
      b->step({&pb});
    }
  }
  Param pc = pb;
  c->build({&pc});
  auto from = b->state();
  auto to = c->state();
  ASSERT_EQ(from.size(), to.size());
  for (std::size_t i = 0; i < from.size(); ++i) {
    ASSERT_EQ(from[i].first, to[i].first);
    *to[i].second = *from[i].second;
  }
  c->set_iterations(b->iterations());
  for (int t = 2; t < kSteps; ++t) {
    pc.grad = Tensor({kSize}, {kGrads[t], kGrads[t] + kSize});
    c->step({&pc});
  }
  EXPECT_EQ(pc.value.to_vector(), pa.value.to_vector());
  EXPECT_EQ(c->iterations(), kSteps);
}

TEST(Optimizers, RejectsMismatchedGradsAndChangedParameterLists) {
  auto adam = make_adam({});
  Param w = make_param("weight", {2, 2}, {1, 2, 3, 4});
  w.grad = Tensor({4});
  testing::expect_error_message([&] { adam->step({&w}); },
                                "parameter 0 'weight' is [2, 2] but its grad is [4]");
  EXPECT_THROW(adam->step({&w}), ShapeError);
  w.grad = Tensor({2, 2});
  adam->step({&w});
  Param b = make_param("bias", {2}, {0, 0});
  testing::expect_error_message(
      [&] {
        adam->step({&w, &b});
      },
      "given 2 parameters, but its state was made for 1");
}

// ---- clipping ----

TEST(Clipping, ClipValueIsElementWiseInPlace) {
  auto sgd = make_sgd({.learning_rate = 1.0f, .clip = {.clipvalue = 1.0f}});
  Param p = make_param("w", {3}, {0, 0, 0});
  p.grad = Tensor({3}, {3, -4, 0.5f});
  sgd->step({&p});
  EXPECT_EQ(p.grad.to_vector(), (std::vector<float>{1, -1, 0.5f}));
  EXPECT_EQ(p.value.to_vector(), (std::vector<float>{-1, 1, -0.5f}));
}

TEST(Clipping, ClipNormScalesEachParameterSeparately) {
  auto sgd = make_sgd({.learning_rate = 1.0f, .clip = {.clipnorm = 1.0f}});
  Param a = make_param("a", {2}, {0, 0});
  Param b = make_param("b", {2}, {0, 0});
  a.grad = Tensor({2}, {3, 4});        // norm 5 -> 1
  b.grad = Tensor({2}, {0.3f, 0.4f});  // norm 0.5, untouched
  sgd->step({&a, &b});
  EXPECT_FLOAT_EQ(a.grad[0], 0.6f);
  EXPECT_FLOAT_EQ(a.grad[1], 0.8f);
  EXPECT_EQ(b.grad.to_vector(), (std::vector<float>{0.3f, 0.4f}));
  EXPECT_FLOAT_EQ(a.value[1], -0.8f);
}

TEST(Clipping, GlobalClipNormMatchesClipGradNorm) {
  // torch.nn.utils.clip_grad_norm_([g, h], 1.3) with g.grad = [3, 4, 0, 0], h.grad = [0, 12]
  // gives [0.299999982, 0.399999976, 0, 0] and [0, 1.19999993] (torch 1.13): total norm 13,
  // factor 1.3 / (13 + 1e-6).
  auto sgd = make_sgd({.learning_rate = 0.0f, .clip = {.global_clipnorm = 1.3f}});
  Param g = make_param("g", {4}, {0, 0, 0, 0});
  Param h = make_param("h", {2}, {0, 0});
  Param frozen = make_param("frozen", {1}, {0});
  frozen.trainable = false;
  frozen.grad = Tensor({1}, {100});  // neither counted nor scaled
  g.grad = Tensor({4}, {3, 4, 0, 0});
  h.grad = Tensor({2}, {0, 12});
  sgd->step({&g, &frozen, &h});
  EXPECT_FLOAT_EQ(g.grad[0], 0.299999982f);
  EXPECT_FLOAT_EQ(g.grad[1], 0.399999976f);
  EXPECT_FLOAT_EQ(h.grad[1], 1.19999993f);
  EXPECT_EQ(frozen.grad[0], 100.0f);
  // Below the limit nothing changes: norm √1.25.
  g.grad = Tensor({4}, {0.3f, 0.4f, 0, 0});
  h.grad = Tensor({2}, {0, 1.0f});
  sgd->step({&g, &frozen, &h});
  EXPECT_EQ(g.grad.to_vector(), (std::vector<float>{0.3f, 0.4f, 0, 0}));
  EXPECT_EQ(h.grad.to_vector(), (std::vector<float>{0, 1.0f}));
}

TEST(Clipping, GlobalClipNormOnLargeTensorsByHand) {
  auto sgd = make_sgd({.learning_rate = 0.0f, .clip = {.global_clipnorm = 2.0f}});
  Param a{.name = "a", .value = Tensor({300, 300}), .grad = Tensor({300, 300}, 1.0f)};
  Param b{.name = "b", .value = Tensor({10}), .grad = Tensor({10}, 1.0f)};
  sgd->step({&a, &b});
  // Norm √90010 -> every element scaled to 2 / √90010.
  const float expected = static_cast<float>(2.0 / (std::sqrt(90010.0) + 1e-6));
  for (int64_t i = 0; i < a.grad.size(); i += 997) ASSERT_FLOAT_EQ(a.grad[i], expected);
  EXPECT_FLOAT_EQ(b.grad[9], expected);
}

TEST(Clipping, AppliesClipValueThenClipNormThenGlobalClipNorm) {
  {
    // clipvalue 2 first: [3, 4] -> [2, 2], then clipnorm 1 -> [1/√2, 1/√2]. (The other
    // order would give [0.6, 0.8].)
    auto sgd = make_sgd({.learning_rate = 0.0f, .clip = {.clipnorm = 1.0f, .clipvalue = 2.0f}});
    Param a = make_param("a", {2}, {0, 0});
    a.grad = Tensor({2}, {3, 4});
    sgd->step({&a});
    EXPECT_FLOAT_EQ(a.grad[0], static_cast<float>(1 / std::sqrt(2.0)));
    EXPECT_FLOAT_EQ(a.grad[1], static_cast<float>(1 / std::sqrt(2.0)));
  }
  {
    // clipnorm 5 first: a = [3, 4] stays, b = [0, 12] -> [0, 5]; then the global norm
    // √50 -> scaled to 1.3. (Global first would give a = [0.3, 0.4], b = [0, 1.2].)
    auto sgd =
        make_sgd({.learning_rate = 0.0f, .clip = {.clipnorm = 5.0f, .global_clipnorm = 1.3f}});
    Param a = make_param("a", {2}, {0, 0});
    Param b = make_param("b", {2}, {0, 0});
    a.grad = Tensor({2}, {3, 4});
    b.grad = Tensor({2}, {0, 12});
    sgd->step({&a, &b});
    const double factor = 1.3 / (std::sqrt(50.0) + 1e-6);
    EXPECT_FLOAT_EQ(a.grad[0], static_cast<float>(3 * factor));
    EXPECT_FLOAT_EQ(a.grad[1], static_cast<float>(4 * factor));
    EXPECT_FLOAT_EQ(b.grad[1], static_cast<float>(5 * factor));
  }
}

// ---- learning rates and schedules ----

TEST(Optimizers, ScheduleDrivesSGDLearningRateDown) {
  auto sgd = make_sgd({.learning_rate = 0.1f});
  sgd->set_schedule(
      make_step_decay({.initial_learning_rate = 0.1f, .step_size = 1, .decay_rate = 0.5f}));
  Param p = make_param("w", {1}, {0});
  p.grad = Tensor({1}, {1});
  std::vector<float> rates, values;
  for (int t = 0; t < 3; ++t) {
    rates.push_back(sgd->learning_rate());
    sgd->step({&p});
    values.push_back(p.value[0]);
  }
  EXPECT_EQ(rates, (std::vector<float>{0.1f, 0.05f, 0.025f}));
  EXPECT_FLOAT_EQ(values[0], -0.1f);
  EXPECT_FLOAT_EQ(values[1], -0.15f);
  EXPECT_FLOAT_EQ(values[2], -0.175f);
  // A constant rate replaces the schedule.
  sgd->set_learning_rate(0.5f);
  EXPECT_EQ(sgd->learning_rate(), 0.5f);
  sgd->step({&p});
  EXPECT_FLOAT_EQ(p.value[0], -0.675f);
  EXPECT_THROW(sgd->set_learning_rate(-1.0f), ValueError);
}

TEST(MakeOptimizer, ReadsAScheduleAsLearningRate) {
  auto sgd = make_optimizer({{"type", "sgd"},
                             {"learning_rate",
                              {{"type", "ExponentialDecay"},
                               {"initial_learning_rate", 0.1},
                               {"decay_steps", 1},
                               {"decay_rate", 0.5}}}});
  Param p = make_param("w", {1}, {0});
  p.grad = Tensor({1}, {1});
  EXPECT_FLOAT_EQ(sgd->learning_rate(), 0.1f);
  sgd->step({&p});
  EXPECT_FLOAT_EQ(sgd->learning_rate(), 0.05f);
  sgd->step({&p});
  EXPECT_FLOAT_EQ(p.value[0], -0.15f);
  EXPECT_EQ(sgd->config()["learning_rate"]["type"], "exponential_decay");
  EXPECT_EQ(make_optimizer(sgd->config())->config(), sgd->config());
}

// ---- make_optimizer and config ----

TEST(MakeOptimizer, NamesAreCaseInsensitiveWithKerasDefaults) {
  for (const char* name : {"sgd", "SGD", "adam", "Adam", "adamw", "AdamW", "rmsprop", "RMSprop",
                           "adagrad", "Adagrad"}) {
    SCOPED_TRACE(name);
    auto optimizer = make_optimizer(name);
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(optimizer->name(), lower);
    EXPECT_EQ(make_optimizer(optimizer->config())->config(), optimizer->config());
  }
  auto adam = make_optimizer("adam")->config();
  EXPECT_EQ(adam["learning_rate"], 0.001);
  EXPECT_EQ(adam["epsilon"], 1e-7);
  EXPECT_EQ(adam["beta_2"], 0.999);
  EXPECT_FALSE(adam.contains("clipnorm"));
  auto rms = make_optimizer("rmsprop")->config();
  EXPECT_EQ(rms["rho"], 0.9);
  EXPECT_EQ(rms["epsilon"], 1e-7);
  EXPECT_EQ(make_optimizer("sgd")->config()["learning_rate"], 0.01);
  EXPECT_EQ(make_optimizer("adamw")->config()["weight_decay"], 0.004);
  EXPECT_EQ(make_optimizer("adagrad")->config()["initial_accumulator_value"], 0.1);
}

TEST(MakeOptimizer, ReadsArgumentsAndRoundTripsThroughConfig) {
  nlohmann::json spec = {{"type", "sgd"},         {"learning_rate", 0.1}, {"momentum", 0.9},
                         {"nesterov", true},      {"clipnorm", 1.0},      {"clipvalue", 0.5},
                         {"global_clipnorm", 2.0}};
  auto sgd = make_optimizer(spec);
  EXPECT_EQ(sgd->config(), spec);
  expect_trajectory(*make_optimizer({{"type", "sgd"}, {"learning_rate", 0.1}, {"momentum", 0.9}}),
                    kSgdMomentum);
  expect_trajectory(
      *make_optimizer(
          {{"type", "RMSprop"}, {"learning_rate", 0.01}, {"momentum", 0.5}, {"centered", true}}),
      kRmspropCenteredMomentum);
  expect_trajectory(*make_optimizer({{"type", "adamw"},
                                     {"learning_rate", 0.1},
                                     {"weight_decay", 0.1},
                                     {"beta_2", 0.9},
                                     {"amsgrad", true}}),
                    kAdamWAmsgrad);
  // Keras writes unset clip options as null.
  auto adam = make_optimizer({{"type", "adam"}, {"clipnorm", nullptr}});
  EXPECT_FALSE(adam->config().contains("clipnorm"));
}

TEST(MakeOptimizer, RejectsUnknownNamesArgumentsAndBadValues) {
  testing::expect_error_message([] { make_optimizer("lbfgs"); }, "unknown optimizer 'lbfgs'");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "adam"}, {"betas", {0.9, 0.99}}});
      },
      "unknown argument 'betas'");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "sgd"}, {"lr", 0.1}});
      },
      "unknown argument 'lr'");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "adam"}, {"weight_decay", 0.1}});
      },
      "unknown argument 'weight_decay'");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "sgd"}, {"learning_rate", "fast"}});
      },
      "'learning_rate' must be a number");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "sgd"}, {"learning_rate", -0.1}});
      },
      "learning_rate must be a number >= 0");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "sgd"}, {"nesterov", true}});
      },
      "nesterov needs a momentum > 0");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "sgd"}, {"momentum", 1.5}});
      },
      "momentum");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "adam"}, {"beta_1", 1.0}});
      },
      "beta_1");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "adam"}, {"clipnorm", 0.0}});
      },
      "clipnorm must be a number > 0");
  testing::expect_error_message(
      [] {
        make_optimizer({{"type", "rmsprop"}, {"centered", "yes"}});
      },
      "'centered' must be true or false");
  testing::expect_error_message(
      [] {
        make_optimizer(
            {{"type", "sgd"}, {"learning_rate", {{"type", "cosine_decay"}, {"decay_steps", 0}}}});
      },
      "decay_steps must be > 0");
  testing::expect_error_message([] { make_optimizer(nlohmann::json::array()); },
                                "optimizer: expected a name");
}

}  // namespace
}  // namespace nnkit
