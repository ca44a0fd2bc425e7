#include "nnkit/data/scaler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "nnkit/error.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Rows 0..3 are the training part: column 0 is 1, 2, 3, 6 (mean 3, population variance
// 14/4 = 3.5, min 1, max 6), column 1 the constant 10. Rows 4 and 5 are far outside both and
// hold a NaN: a fit on 4 rows must not see them.
Tensor training_then_later() {
  return Tensor({6, 2}, {1, 10, 2, 10, 3, 10, 6, 10, 1000, -500, kNaN, 1e30f});
}

TEST(ScalerKinds, ParseAndName) {
  EXPECT_EQ(parse_scaler_kind("none"), ScalerKind::kNone);
  EXPECT_EQ(parse_scaler_kind("standard"), ScalerKind::kStandard);
  EXPECT_EQ(parse_scaler_kind("minmax"), ScalerKind::kMinMax);
  EXPECT_EQ(scaler_kind_name(ScalerKind::kNone), "none");
  EXPECT_EQ(scaler_kind_name(ScalerKind::kStandard), "standard");
  EXPECT_EQ(scaler_kind_name(ScalerKind::kMinMax), "minmax");
  expect_throw_containing<ValueError>([] { parse_scaler_kind("robust"); },
                                      "unknown scaler \"robust\"; expected none, standard or "
                                      "minmax");
  expect_throw_containing<ValueError>([] { parse_scaler_kind("Standard"); }, "\"Standard\"");
}

TEST(Scaler, StandardUsesPopulationStdOfTheFittedRowsOnly) {
  Scaler s(ScalerKind::kStandard);
  s.fit(training_then_later(), 4);
  ASSERT_EQ(s.columns(), 2);
  EXPECT_DOUBLE_EQ(s.offset()[0], 3.0);
  EXPECT_DOUBLE_EQ(s.scale()[0], std::sqrt(3.5));  // ddof 0; ddof 1 would be sqrt(14/3)
  EXPECT_EQ(s.offset()[1], 10.0);
  EXPECT_EQ(s.scale()[1], 1.0);  // constant column: scale 1, as scikit-learn

  const Tensor x = s.transform(Tensor({2, 2}, {6, 10, 1, 12}));
  EXPECT_FLOAT_EQ(x[0], static_cast<float>(3.0 / std::sqrt(3.5)));
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_FLOAT_EQ(x[2], static_cast<float>(-2.0 / std::sqrt(3.5)));
  EXPECT_EQ(x[3], 2.0f);
}

TEST(Scaler, FitIgnoresEverythingAfterItsRows) {
  // The same four rows alone give the same parameters, bit for bit, as with the later rows.
  const Tensor all = training_then_later();
  for (ScalerKind kind : {ScalerKind::kStandard, ScalerKind::kMinMax}) {
    Scaler with_later(kind);
    with_later.fit(all, 4);
    Scaler alone(kind);
    alone.fit(all.slice_rows(0, 4), 4);
    EXPECT_EQ(with_later.offset(), alone.offset()) << scaler_kind_name(kind);
    EXPECT_EQ(with_later.scale(), alone.scale()) << scaler_kind_name(kind);
  }
  // And fitting on more rows does see them.
  Scaler five(ScalerKind::kMinMax);
  five.fit(all, 5);
  EXPECT_EQ(five.scale()[0], 999.0);
  EXPECT_EQ(five.offset()[1], -500.0);
}

TEST(Scaler, MinMaxMapsTheFittedRangeToZeroOne) {
  Scaler s(ScalerKind::kMinMax);
  s.fit(training_then_later(), 4);
  EXPECT_EQ(s.offset()[0], 1.0);
  EXPECT_EQ(s.scale()[0], 5.0);
  EXPECT_EQ(s.offset()[1], 10.0);
  EXPECT_EQ(s.scale()[1], 1.0);  // constant column
  const Tensor x = s.transform(Tensor({4, 2}, {1, 10, 6, 10, 3.5f, 11, 1000, 9}));
  // Not clipped outside the fitted range, as scikit-learn's MinMaxScaler (clip=False).
  EXPECT_EQ(x.to_vector(), (std::vector<float>{0, 0, 1, 0, 0.5f, 1, 199.8f, -1}));
}

TEST(Scaler, NoneIsTheIdentityButKnowsItsColumns) {
  Scaler s(ScalerKind::kNone);
  s.fit(training_then_later(), 4);
  EXPECT_EQ(s.columns(), 2);
  EXPECT_EQ(s.offset(), (std::vector<double>{0, 0}));
  EXPECT_EQ(s.scale(), (std::vector<double>{1, 1}));
  const Tensor v({2, 2}, {0.1f, -3e7f, 1e-30f, 5});
  EXPECT_EQ(s.transform(v).to_vector(), v.to_vector());
  EXPECT_EQ(s.inverse_transform(v).to_vector(), v.to_vector());
}

TEST(Scaler, InverseOfTransformGivesBackTheValuesOnAnyRank) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(50.0f, 20.0f);
  Tensor fit_values({30, 3});
  for (float& v : fit_values) v = normal(rng);
  Tensor windows({5, 4, 3});  // [N, W, F]: the last axis is the columns
  for (float& v : windows) v = normal(rng);
  for (ScalerKind kind : {ScalerKind::kNone, ScalerKind::kStandard, ScalerKind::kMinMax}) {
    Scaler s(kind);
    s.fit(fit_values, 20);
    const Tensor scaled = s.transform(windows);
    ASSERT_EQ(scaled.shape(), windows.shape());
    // Element [n, w, f] uses column f.
    const auto f = static_cast<std::size_t>(2);
    EXPECT_FLOAT_EQ(
        scaled[1 * 12 + 2 * 3 + 2],
        static_cast<float>((windows[1 * 12 + 2 * 3 + 2] - s.offset()[f]) / s.scale()[f]));
    // The scaled values are rounded to float32: back in original units that is an error of
    // about one float ulp of (x − offset), a few 1e-6 for values near 50.
    testing::expect_all_near(s.inverse_transform(scaled), windows, 1e-5, scaler_kind_name(kind));
  }
}

TEST(Scaler, SingleColumnTransformsUseThatColumnsParameters) {
  Scaler s(ScalerKind::kStandard);
  s.fit(training_then_later(), 4);
  const Tensor t = s.transform_column(Tensor({3}, {3, 6, 3 + 2 * std::sqrt(3.5f)}), 0);
  EXPECT_EQ(t[0], 0.0f);
  EXPECT_FLOAT_EQ(t[1], static_cast<float>(3.0 / std::sqrt(3.5)));
  EXPECT_FLOAT_EQ(t[2], 2.0f);
  // Column 1 (constant 10, scale 1): a prediction of 0.5 is 10.5 in original units.
  const Tensor back = s.inverse_transform_column(Tensor({2, 1}, {0.5f, -1}), 1);
  EXPECT_EQ(back.shape(), (Shape{2, 1}));
  EXPECT_EQ(back.to_vector(), (std::vector<float>{10.5f, 9}));
  EXPECT_FLOAT_EQ(s.inverse_transform_column(Tensor({1}, {1}), 0)[0],
                  static_cast<float>(3 + std::sqrt(3.5)));
  expect_throw_containing<ValueError>([&] { s.transform_column(Tensor({1}), 2); },
                                      "column 2 is out of range: fitted on 2 columns");
  expect_throw_containing<ValueError>([&] { s.inverse_transform_column(Tensor({1}), -1); },
                                      "column -1 is out of range");
}

TEST(Scaler, RefitReplacesTheEarlierFit) {
  Scaler s(ScalerKind::kMinMax);
  s.fit(Tensor({2, 3}, {0, 0, 0, 1, 1, 1}), 2);
  s.fit(Tensor({2, 1}, {4, 8}), 2);
  EXPECT_EQ(s.columns(), 1);
  EXPECT_EQ(s.offset()[0], 4.0);
  EXPECT_EQ(s.scale()[0], 4.0);
}

TEST(Scaler, RejectsBadFitsAndUseBeforeFit) {
  Scaler s(ScalerKind::kStandard);
  EXPECT_FALSE(s.fitted());
  expect_throw_containing<ValueError>(
      [&] {
        s.transform(Tensor({1, 2}));
      },
      "scaler: transform before fit");
  expect_throw_containing<ValueError>(
      [&] {
        s.inverse_transform(Tensor({1, 2}));
      },
      "inverse_transform before fit");
  expect_throw_containing<ValueError>([&] { s.inverse_transform_column(Tensor({1}), 0); },
                                      "before fit");
  expect_throw_containing<ValueError>([&] { s.to_json(); }, "to_json before fit");
  expect_throw_containing<ShapeError>([&] { s.fit(Tensor({4}), 4); },
                                      "fit expects values [rows, columns], got [4]");
  expect_throw_containing<ValueError>([&] { s.fit(Tensor({4, 0}), 4); }, "at least one column");
  expect_throw_containing<ValueError>(
      [&] {
        s.fit(Tensor({4, 2}), 0);
      },
      "fit on 0 rows of a tensor of 4 rows (need 1 to 4)");
  expect_throw_containing<ValueError>([&] { s.fit(Tensor({4, 2}), 5); }, "fit on 5 rows");
  const Tensor bad = training_then_later();
  expect_throw_containing<ValueError>([&] { s.fit(bad, 6); }, "row 5, column 0 is NaN");
  Tensor inf({2, 2});
  inf[3] = std::numeric_limits<float>::infinity();
  expect_throw_containing<ValueError>([&] { s.fit(inf, 2); }, "row 1, column 1 is inf");
  EXPECT_FALSE(s.fitted());  // a failed fit leaves nothing half done

  s.fit(bad, 4);
  expect_throw_containing<ShapeError>(
      [&] {
        s.transform(Tensor({3, 3}));
      },
      "fitted on 2 columns, got values [3, 3]");
  expect_throw_containing<ShapeError>(
      [&] {
        s.inverse_transform(Tensor({2, 1}));
      },
      "fitted on 2 columns, got values [2, 1]");
}

// Parameters that are not short decimals, so that a lossy writer would show.
Tensor awkward_values() {
  return Tensor({5, 3}, {0.1f, 1.0f / 3, -7e-8f, 0.7f, 2.0f / 3, 3.3e6f, 1.9f, 0.123456789f,
                         -1e-30f, 2.2f, 1e7f, 5, 1.0f / 7, 0.3f, 1});
}

TEST(ScalerJson, RoundTripIsExact) {
  for (ScalerKind kind : {ScalerKind::kNone, ScalerKind::kStandard, ScalerKind::kMinMax}) {
    Scaler s(kind);
    s.fit(awkward_values(), 5);
    const nlohmann::json json = s.to_json();
    EXPECT_EQ(json.at("kind"), scaler_kind_name(kind));
    ASSERT_TRUE(json.at("offset").is_array());
    for (const auto& v : json.at("offset")) EXPECT_TRUE(v.is_number());
    for (const auto& v : json.at("scale")) EXPECT_TRUE(v.is_number());
    // Through text, as a model file stores it.
    const Scaler back = Scaler::from_json(nlohmann::json::parse(json.dump()));
    EXPECT_EQ(back.kind(), kind);
    EXPECT_EQ(back.offset(), s.offset());
    EXPECT_EQ(back.scale(), s.scale());
    const Tensor a = s.transform(awkward_values());
    const Tensor b = back.transform(awkward_values());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * static_cast<std::size_t>(a.size())),
              0);
  }
}

TEST(ScalerJson, ReadsHandWrittenParametersIntegersIncluded) {
  const Scaler s = Scaler::from_json(
      nlohmann::json::parse(R"({"kind": "minmax", "offset": [1, -2.5], "scale": [4, 0.5]})"));
  EXPECT_EQ(s.kind(), ScalerKind::kMinMax);
  EXPECT_EQ(s.transform(Tensor({1, 2}, {3, -2})).to_vector(), (std::vector<float>{0.5f, 1}));
}

TEST(ScalerJson, RejectsMalformedParameters) {
  auto reject = [](const std::string& text, const std::string& part) {
    expect_throw_containing<FormatError>([&] { Scaler::from_json(nlohmann::json::parse(text)); },
                                         part);
  };
  reject("[1, 2]", "scaler: expected a JSON object, got array");
  reject(R"({"offset": [0], "scale": [1]})", "\"kind\" must be a string");
  reject(R"({"kind": 3, "offset": [0], "scale": [1]})", "\"kind\" must be a string");
  reject(R"({"kind": "robust", "offset": [0], "scale": [1]})", "unknown kind \"robust\"");
  reject(R"({"kind": "standard", "scale": [1]})", "missing \"offset\"");
  reject(R"({"kind": "standard", "offset": [0]})", "missing \"scale\"");
  reject(R"({"kind": "standard", "offset": 0, "scale": [1]})",
         "\"offset\" must be an array of numbers, got number");
  reject(R"({"kind": "standard", "offset": [0, "1"], "scale": [1, 1]})",
         "\"offset\"[1] must be a number, got string");
  reject(R"({"kind": "standard", "offset": [0, null], "scale": [1, 1]})",
         "\"offset\"[1] must be a number, got null");
  reject(R"({"kind": "standard", "offset": [0, 1], "scale": [1]})", "2 offsets but 1 scales");
  reject(R"({"kind": "standard", "offset": [], "scale": []})", "no columns");
  reject(R"({"kind": "standard", "offset": [0, 1], "scale": [1, 0]})",
         "\"scale\"[1] is 0; scales must be positive");
  reject(R"({"kind": "minmax", "offset": [0], "scale": [-2]})", "\"scale\"[0] is -2");
  reject(R"({"kind": "none", "offset": [1], "scale": [1]})",
         "kind none with offset 1 and scale 1 in column 0; expected 0 and 1");
  // Non-finite numbers cannot be written in JSON text but can be in a json value.
  nlohmann::json nan = {{"kind", "standard"},
                        {"offset", {std::numeric_limits<double>::quiet_NaN()}},
                        {"scale", {1.0}}};
  expect_throw_containing<FormatError>([&] { Scaler::from_json(nan); },
                                       "\"offset\"[0] is not finite");
  nlohmann::json inf = {{"kind", "standard"},
                        {"offset", {0.0}},
                        {"scale", {std::numeric_limits<double>::infinity()}}};
  expect_throw_containing<FormatError>([&] { Scaler::from_json(inf); },
                                       "\"scale\"[0] is not finite");
}

}  // namespace
}  // namespace nnkit
