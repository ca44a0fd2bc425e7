#include "io/svg_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "scratch_dir.h"

namespace nnkit::chart {
namespace {

using Runs = std::vector<std::vector<std::size_t>>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const std::string kFFFD = "\xEF\xBF\xBD";

void expect_ticks(const Axis& axis, const std::vector<double>& want) {
  ASSERT_EQ(axis.ticks.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(axis.ticks[i], want[i], 1e-12) << "tick " << i;
  }
  EXPECT_NEAR(axis.lo, want.front(), 1e-12);
  EXPECT_NEAR(axis.hi, want.back(), 1e-12);
}

// ---- linear axes: steps of 1, 2 or 5 × 10^k, bounds widened to ticks ----------------------

TEST(NiceAxis, CoversARangeWithStepsOfTwenty) {
  // (97.2 - 3.7) / 5 = 18.7 -> 2 × 10.
  const Axis axis = nice_axis(3.7, 97.2, 5);
  EXPECT_DOUBLE_EQ(axis.step, 20);
  EXPECT_FALSE(axis.log);
  expect_ticks(axis, {0, 20, 40, 60, 80, 100});
}

TEST(NiceAxis, SwappedBoundsGiveTheSameAxis) {
  expect_ticks(nice_axis(97.2, 3.7, 5), {0, 20, 40, 60, 80, 100});
}

TEST(NiceAxis, CoversZeroToOneInFifths) {
  const Axis axis = nice_axis(0, 1, 5);
  EXPECT_DOUBLE_EQ(axis.step, 0.2);
  expect_ticks(axis, {0, 0.2, 0.4, 0.6, 0.8, 1.0});
}

TEST(NiceAxis, StraddlesZeroWithAnExactZeroTick) {
  // 0.89 / 5 = 0.178 -> 0.2; -0.37 widens to -0.4 and 0.52 to 0.6.
  const Axis axis = nice_axis(-0.37, 0.52, 5);
  expect_ticks(axis, {-0.4, -0.2, 0, 0.2, 0.4, 0.6});
  EXPECT_EQ(axis.ticks[2], 0.0);
  EXPECT_FALSE(std::signbit(axis.ticks[2]));
}

TEST(NiceAxis, PicksStepsOfFiveAndOne) {
  EXPECT_DOUBLE_EQ(nice_axis(0, 24, 5).step, 5);       // 4.8 -> 5
  EXPECT_DOUBLE_EQ(nice_axis(0, 6, 5).step, 1);        // 1.2 -> 1
  EXPECT_DOUBLE_EQ(nice_axis(0, 0.04, 5).step, 0.01);  // 0.008 -> 0.01
  EXPECT_DOUBLE_EQ(nice_axis(0, 4e6, 5).step, 1e6);    // 8e5 -> 1e6
}

TEST(NiceAxis, WidensASingleValueByATenthOfIt) {
  // [4.5, 5.5]: 1 / 5 = 0.2, widened to the ticks around it.
  expect_ticks(nice_axis(5, 5, 5), {4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6});
  // Zero is widened by one each way: 2 / 5 = 0.4 -> 0.5.
  expect_ticks(nice_axis(0, 0, 5), {-1, -0.5, 0, 0.5, 1});
}

TEST(NiceAxis, KeepsTheMinimumStep) {
  expect_ticks(nice_axis(1, 3, 10, 1), {1, 2, 3});
  // A single index is widened by the minimum step.
  expect_ticks(nice_axis(1, 1, 10, 1), {0, 1, 2});
}

TEST(NiceAxis, NonFiniteBoundsGiveZeroToOne) {
  expect_ticks(nice_axis(kNaN, 3, 5), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  expect_ticks(nice_axis(0, kInf, 5), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
}

TEST(NiceAxis, ExtremeButDrawableBoundsStayFinite) {
  const Axis axis = nice_axis(-kMaxValue, kMaxValue, 5);
  EXPECT_TRUE(std::isfinite(axis.lo));
  EXPECT_TRUE(std::isfinite(axis.hi));
  EXPECT_LE(axis.ticks.size(), 9u);
  for (double tick : axis.ticks) EXPECT_TRUE(std::isfinite(tick));
}

// ---- log axes ------------------------------------------------------------------------------

TEST(LogAxis, RunsFromTheDecadeBelowToTheDecadeAbove) {
  const Axis axis = log_axis(0.0123, 4.5);
  EXPECT_TRUE(axis.log);
  EXPECT_DOUBLE_EQ(axis.step, 1);
  expect_ticks(axis, {0.01, 0.1, 1, 10});
}

TEST(LogAxis, PowersOfTenAreTheirOwnBounds) {
  expect_ticks(log_axis(0.001, 1000), {0.001, 0.01, 0.1, 1, 10, 100, 1000});
}

TEST(LogAxis, SkipsDecadesToKeepSevenTicksAtMost) {
  // 12 decades: every second one.
  const Axis twelve = log_axis(1e-9, 1e3);
  EXPECT_DOUBLE_EQ(twelve.step, 2);
  ASSERT_EQ(twelve.ticks.size(), 7u);
  EXPECT_NEAR(twelve.ticks[0], 1e-9, 1e-21);
  EXPECT_NEAR(twelve.ticks[6], 1e3, 1e-9);
  // 13 decades (1e-9 to 1e4): every third one, the top widened to 1e6.
  const Axis thirteen = log_axis(1e-9, 2e3);
  EXPECT_DOUBLE_EQ(thirteen.step, 3);
  ASSERT_EQ(thirteen.ticks.size(), 6u);
  EXPECT_NEAR(thirteen.hi, 1e6, 1e-6);
}

TEST(LogAxis, ASingleValueGetsADecade) { expect_ticks(log_axis(0.5, 0.5), {0.1, 1}); }

// ---- tick labels ---------------------------------------------------------------------------

TEST(TickLabel, ShowsTheDecimalsTheStepNeeds) {
  EXPECT_EQ(tick_label(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(tick_label(1.0, 0.2), "1.0");
  EXPECT_EQ(tick_label(20, 20), "20");
  EXPECT_EQ(tick_label(-0.05, 0.05), "-0.05");
  EXPECT_EQ(tick_label(36.5, 0.1), "36.5");
  EXPECT_EQ(tick_label(3000000, 1000000), "3000000");
}

TEST(TickLabel, ZeroIsPlainZero) {
  EXPECT_EQ(tick_label(0.0, 0.2), "0");
  EXPECT_EQ(tick_label(-0.0, 1e-6), "0");
}

TEST(TickLabel, UsesExponentsForTinyStepsAndHugeValues) {
  EXPECT_EQ(tick_label(2e-5, 1e-5), "2e-5");
  EXPECT_EQ(tick_label(1.5e-5, 5e-6), "1.5e-5");
  EXPECT_EQ(tick_label(1.5e7, 5e6), "1.5e7");
  EXPECT_EQ(tick_label(1e7, 5e6), "1e7");
  EXPECT_EQ(tick_label(-2e8, 1e8), "-2e8");
}

TEST(LogTickLabel, PlainFromTenThousandthsToHundredThousands) {
  EXPECT_EQ(log_tick_label(-4), "0.0001");
  EXPECT_EQ(log_tick_label(-1), "0.1");
  EXPECT_EQ(log_tick_label(0), "1");
  EXPECT_EQ(log_tick_label(5), "100000");
  EXPECT_EQ(log_tick_label(-5), "1e-5");
  EXPECT_EQ(log_tick_label(6), "1e6");
}

// ---- runs of points ------------------------------------------------------------------------

TEST(LineRuns, NonFiniteValuesSplitTheLine) {
  EXPECT_EQ(line_runs({1, kNaN, 2, 3, kInf, 4}, 100), (Runs{{0}, {2, 3}, {5}}));
  EXPECT_EQ(line_runs({kNaN, 1, 2, -kInf}, 100), (Runs{{1, 2}}));
}

TEST(LineRuns, ValuesBeyondTheDrawableRangeAreGaps) {
  EXPECT_EQ(line_runs({1, 2e300, 3, -1e301, 5}, 100), (Runs{{0}, {2}, {4}}));
  EXPECT_EQ(line_runs({1, 1e300, -1e300}, 100), (Runs{{0, 1, 2}}));
}

TEST(LineRuns, NothingToDraw) {
  EXPECT_EQ(line_runs({}, 100), Runs{});
  EXPECT_EQ(line_runs({kNaN, kNaN}, 100), Runs{});
}

TEST(LineRuns, KeepsEveryPointUpToFourPerBucket) {
  std::vector<double> values(40);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<double>(i));
  const Runs runs = line_runs(values, 10);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].size(), 40u);
}

TEST(LineRuns, ThinsEachBucketToFirstLowestHighestAndLast) {
  // 1000 values in 10 buckets of 100: a sawtooth 0..99 per bucket, whose first point is its
  // lowest and last its highest, plus a spike up in bucket 1, one down in bucket 7 and a gap.
  std::vector<double> values(1000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 100);
  values[150] = 1000;
  values[777] = -5;
  for (std::size_t i = 500; i < 510; ++i) values[i] = kNaN;
  const Runs runs = line_runs(values, 10);
  EXPECT_EQ(runs, (Runs{{0, 99, 100, 150, 199, 200, 299, 300, 399, 400, 499},
                        {510, 599, 600, 699, 700, 777, 799, 800, 899, 900, 999}}));
}

// ---- escaping ------------------------------------------------------------------------------

TEST(EscapeHtml, EscapesMarkupCharacters) {
  EXPECT_EQ(escape_html("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;");
  EXPECT_EQ(escape_html("&amp;"), "&amp;amp;");
  EXPECT_EQ(escape_html(""), "");
}

TEST(EscapeHtml, KeepsWellFormedUtf8AndWhitespace) {
  const std::string text = "h\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x98\x80\ttab\nline\r";  // é → 😀
  EXPECT_EQ(escape_html(text), text);
}

TEST(EscapeHtml, ReplacesMalformedUtf8ByteByByte) {
  EXPECT_EQ(escape_html("a\xC3"), "a" + kFFFD);                               // cut short
  EXPECT_EQ(escape_html("\xC0\xAF"), kFFFD + kFFFD);                          // overlong '/'
  EXPECT_EQ(escape_html("\xE0\x80\xAF"), kFFFD + kFFFD + kFFFD);              // overlong, 3 bytes
  EXPECT_EQ(escape_html("\xED\xA0\x80"), kFFFD + kFFFD + kFFFD);              // a surrogate
  EXPECT_EQ(escape_html("\xF4\x90\x80\x80"), kFFFD + kFFFD + kFFFD + kFFFD);  // > U+10FFFF
  EXPECT_EQ(escape_html("\xFF"
                        "x"),
            kFFFD + "x");
  EXPECT_EQ(escape_html("\x80"), kFFFD);
}

TEST(EscapeHtml, ReplacesControlCharactersAndNoncharacters) {
  EXPECT_EQ(escape_html(testing::bytes_of("a\0b")), "a" + kFFFD + "b");
  EXPECT_EQ(escape_html("\x01\x1B\x7F"), kFFFD + kFFFD + kFFFD);
  EXPECT_EQ(escape_html("\xC2\x85"), kFFFD);       // U+0085, a C1 control
  EXPECT_EQ(escape_html("\xC2\xA0"), "\xC2\xA0");  // U+00A0 is fine
  EXPECT_EQ(escape_html("\xEF\xBF\xBE"), kFFFD);   // U+FFFE
  EXPECT_EQ(escape_html("\xEF\xB7\x90"), kFFFD);   // U+FDD0
}

}  // namespace
}  // namespace nnkit::chart
