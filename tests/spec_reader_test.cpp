#include "spec_reader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "nnkit/error.h"
#include "nnkit/losses.h"
#include "nnkit/optimizers.h"
#include "nnkit/schedules.h"
#include "test_util.h"

namespace nnkit::detail {
namespace {

using nlohmann::json;
using testing::expect_error_message;

TEST(SpecReader, ReadsTypedArgumentsAndFallsBackWhenAbsent) {
  json spec = {{"type", "sgd"}, {"learning_rate", 0.5}, {"steps", 100.0}, {"nesterov", true}};
  SpecReader args("optimizer 'sgd'", spec);
  EXPECT_EQ(args.get_float("learning_rate", 0.1f), 0.5f);
  EXPECT_EQ(args.get_int("steps", 1), 100);  // an integer written as a float
  EXPECT_TRUE(args.get_bool("nesterov", false));
  EXPECT_EQ(args.get_float("momentum", 0.9f), 0.9f);
  EXPECT_EQ(args.get_optional_float("clipnorm"), std::nullopt);
  args.finish();
}

TEST(SpecReader, NamesAnUnknownArgumentAndTheClosestValidOne) {
  json spec = {{"type", "sgd"}, {"learning_rte", 0.5}};
  expect_error_message(
      [&] {
        SpecReader args("optimizer 'sgd'", spec);
        args.get_float("learning_rate", 0.1f);
        args.get_float("momentum", 0.0f);
        args.finish();
      },
      "optimizer 'sgd': unknown argument 'learning_rte'; did you mean 'learning_rate'? Valid "
      "arguments: learning_rate, momentum");
  expect_error_message(
      [&] {
        SpecReader args("loss 'mse'", spec);
        args.finish();
      },
      "loss 'mse': unknown argument 'learning_rte'; valid arguments: none");
}

TEST(SpecReader, NamesAnArgumentOfTheWrongType) {
  json spec = {{"rate", "high"}, {"steps", 2.5}, {"flag", 1}, {"shape", {2, "x"}}};
  expect_error_message([&] { SpecReader("Dropout", spec).get_float("rate", 0.0f); },
                       "Dropout: argument 'rate' must be a number, got \"high\"");
  expect_error_message([&] { SpecReader("schedule", spec).get_int("steps", 0); },
                       "schedule: argument 'steps' must be an integer, got 2.5");
  expect_error_message([&] { SpecReader("Dense", spec).get_bool("flag", false); },
                       "Dense: argument 'flag' must be true or false, got 1");
  expect_error_message([&] { SpecReader("Reshape", spec).get_int_list("shape", {}); },
                       "Reshape: argument 'shape' must be a list of integers");
  expect_error_message([] { SpecReader("Dense", json::array()); },
                       "Dense: expected a JSON object of arguments, got []");
}

TEST(SpecReader, NamesAMissingRequiredArgumentAfterUnknownOnes) {
  json empty = json::object();
  expect_error_message(
      [&] {
        SpecReader args("Dense", empty);
        args.require("units");
        args.get_int("units", 0);
        args.finish();
      },
      "Dense: missing required argument 'units'");
  json misspelt = {{"unit", 3}};
  expect_error_message(
      [&] {
        SpecReader args("Dense", misspelt);
        args.require("units");
        args.get_int("units", 0);
        args.finish();
      },
      "Dense: unknown argument 'unit'; did you mean 'units'?");
}

TEST(JsonFloat, WritesTheShortestDecimalAndRoundTrips) {
  EXPECT_EQ(json(json_float(0.3f)).dump(), "0.3");
  EXPECT_EQ(json(json_float(0.001f)).dump(), "0.001");
  for (float x : {0.3f, 1e-7f, 0.9999f, 123456.79f, std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::denorm_min()}) {
    EXPECT_EQ(json::parse(json(json_float(x)).dump()).get<float>(), x);
  }
  EXPECT_TRUE(std::isinf(json_float(std::numeric_limits<float>::infinity())));
}

TEST(SpecNames, SnakeCaseTypeAndClosestMatch) {
  EXPECT_EQ(to_snake_case("MeanSquaredError"), "mean_squared_error");
  EXPECT_EQ(to_snake_case("HeNormal"), "he_normal");
  EXPECT_EQ(to_snake_case("exponential_decay"), "exponential_decay");
  EXPECT_EQ(spec_type("loss", "mse"), "mse");
  EXPECT_EQ(spec_type("loss", json{{"type", "huber"}}), "huber");
  expect_error_message([] { spec_type("loss", 42); }, "loss: expected a name");
  EXPECT_EQ(closest_match("Momentum", {"momentum", "epsilon"}), "momentum");
  EXPECT_EQ(closest_match("foo", {"momentum", "epsilon"}), "");
}

// The specs that use the reader get its hint: one check each.
TEST(SpecReader, GivesLossesOptimizersAndSchedulesTheClosestArgument) {
  expect_error_message(
      [] {
        make_loss({{"type", "huber"}, {"delt", 2.0}});
      },
      "loss 'huber': unknown argument 'delt'; did you mean 'delta'?");
  expect_error_message(
      [] {
        make_optimizer({{"type", "sgd"}, {"momentun", 0.9}});
      },
      "optimizer 'sgd': unknown argument 'momentun'; did you mean 'momentum'?");
  expect_error_message(
      [] {
        make_schedule({{"type", "cosine_decay"}, {"decay_step", 10}});
      },
      "schedule 'cosine_decay': unknown argument 'decay_step'; did you mean 'decay_steps'?");
}

}  // namespace
}  // namespace nnkit::detail
