#include "nnkit/schedules.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>

#include "nnkit/error.h"

namespace nnkit {
namespace {

void expect_value_error(const nlohmann::json& spec, const std::string& part) {
  try {
    make_schedule(spec);
    ADD_FAILURE() << "no throw for " << spec.dump();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
        << "message '" << e.what() << "' lacks '" << part << "'";
  }
}

TEST(ExponentialDecay, ValuesByHand) {
  auto s = make_exponential_decay(
      {.initial_learning_rate = 0.1f, .decay_steps = 10, .decay_rate = 0.5f});
  EXPECT_FLOAT_EQ((*s)(0), 0.1f);
  EXPECT_FLOAT_EQ((*s)(5), static_cast<float>(0.1 * std::pow(0.5, 0.5)));
  EXPECT_FLOAT_EQ((*s)(10), 0.05f);
  EXPECT_FLOAT_EQ((*s)(30), 0.0125f);
  auto stairs = make_exponential_decay(
      {.initial_learning_rate = 0.1f, .decay_steps = 10, .decay_rate = 0.5f, .staircase = true});
  EXPECT_FLOAT_EQ((*stairs)(9), 0.1f);
  EXPECT_FLOAT_EQ((*stairs)(10), 0.05f);
  EXPECT_FLOAT_EQ((*stairs)(19), 0.05f);
}

TEST(InverseTimeDecay, ValuesByHand) {
  auto s = make_inverse_time_decay(
      {.initial_learning_rate = 0.1f, .decay_steps = 10, .decay_rate = 0.5f});
  EXPECT_FLOAT_EQ((*s)(0), 0.1f);
  EXPECT_FLOAT_EQ((*s)(5), static_cast<float>(0.1 / 1.25));
  EXPECT_FLOAT_EQ((*s)(20), 0.05f);
  auto stairs = make_inverse_time_decay(
      {.initial_learning_rate = 0.1f, .decay_steps = 10, .decay_rate = 0.5f, .staircase = true});
  EXPECT_FLOAT_EQ((*stairs)(9), 0.1f);
  EXPECT_FLOAT_EQ((*stairs)(15), static_cast<float>(0.1 / 1.5));
}

TEST(StepDecay, HalvesEveryStepSize) {
  auto s = make_step_decay({.initial_learning_rate = 0.08f, .step_size = 3, .decay_rate = 0.5f});
  EXPECT_FLOAT_EQ((*s)(0), 0.08f);
  EXPECT_FLOAT_EQ((*s)(2), 0.08f);
  EXPECT_FLOAT_EQ((*s)(3), 0.04f);
  EXPECT_FLOAT_EQ((*s)(6), 0.02f);
  EXPECT_FLOAT_EQ((*s)(8), 0.02f);
}

TEST(CosineDecay, ValuesByHandAndFlatAfterDecaySteps) {
  auto s = make_cosine_decay({.initial_learning_rate = 0.1f, .decay_steps = 100, .alpha = 0.1f});
  EXPECT_FLOAT_EQ((*s)(0), 0.1f);
  // Half way: cosine term 0.5 -> 0.1·(0.9·0.5 + 0.1)
  EXPECT_FLOAT_EQ((*s)(50), 0.1f * 0.55f);
  EXPECT_FLOAT_EQ(
      (*s)(25), static_cast<float>(0.1 * (0.9 * 0.5 * (1 + std::cos(std::numbers::pi / 4)) + 0.1)));
  EXPECT_FLOAT_EQ((*s)(100), 0.01f);
  EXPECT_FLOAT_EQ((*s)(1000), 0.01f);
}

TEST(MakeSchedule, ReadsSnakeAndKerasClassNamesAndRoundTrips) {
  auto a = make_schedule({{"type", "ExponentialDecay"},
                          {"initial_learning_rate", 0.1},
                          {"decay_steps", 10},
                          {"decay_rate", 0.5},
                          {"staircase", true}});
  EXPECT_FLOAT_EQ((*a)(10), 0.05f);
  EXPECT_FLOAT_EQ((*a)(15), 0.05f);
  auto cfg = a->config();
  EXPECT_EQ(cfg["type"], "exponential_decay");
  EXPECT_EQ(cfg["initial_learning_rate"], 0.1);  // written as typed, not 0.10000000149
  EXPECT_EQ(make_schedule(cfg)->config(), cfg);

  for (const char* type : {"inverse_time_decay", "InverseTimeDecay", "cosine_decay", "CosineDecay",
                           "step_decay", "StepDecay", "exponential_decay"}) {
    SCOPED_TRACE(type);
    auto s = make_schedule({{"type", type}, {"initial_learning_rate", 0.5}});
    EXPECT_FLOAT_EQ((*s)(0), 0.5f);
    EXPECT_LT((*s)(2000), 0.5f);
    EXPECT_EQ(make_schedule(s->config())->config(), s->config());
  }
  // decay_steps written as a float by Python's json.
  EXPECT_FLOAT_EQ(
      (*make_schedule(
          {{"type", "step_decay"}, {"initial_learning_rate", 1.0}, {"step_size", 2.0}}))(2),
      0.5f);
}

TEST(MakeSchedule, RejectsBadSpecs) {
  expect_value_error({{"type", "polynomial_decay"}},
                     "unknown learning-rate schedule 'polynomial_decay'");
  expect_value_error({{"type", "exponential_decay"}, {"decay_steps", 0}},
                     "decay_steps must be > 0");
  expect_value_error({{"type", "cosine_decay"}, {"decay_steps", -5}}, "decay_steps must be > 0");
  expect_value_error({{"type", "step_decay"}, {"step_size", 0}}, "step_size must be > 0");
  expect_value_error({{"type", "step_decay"}, {"decay_steps", 10}},
                     "unknown argument 'decay_steps'");
  expect_value_error({{"type", "exponential_decay"}, {"decay_steps", 2.5}},
                     "'decay_steps' must be an integer");
  expect_value_error({{"type", "exponential_decay"}, {"decay_rate", 0.0}},
                     "decay_rate must be > 0");
  expect_value_error({{"type", "inverse_time_decay"}, {"decay_rate", -1.0}},
                     "decay_rate must be >= 0");
  expect_value_error({{"type", "cosine_decay"}, {"alpha", 1.5}}, "alpha must be in [0, 1]");
  expect_value_error({{"type", "cosine_decay"}, {"initial_learning_rate", -0.1}},
                     "initial_learning_rate must be a number >= 0");
  expect_value_error({{"type", "cosine_decay"}, {"staircase", "yes"}},
                     "unknown argument 'staircase'");
  expect_value_error({{"type", "exponential_decay"}, {"staircase", "yes"}},
                     "must be true or false");
  expect_value_error("exponential_decay", "expected an object");
  EXPECT_THROW(make_step_decay({.step_size = 0}), ValueError);
}

}  // namespace
}  // namespace nnkit
