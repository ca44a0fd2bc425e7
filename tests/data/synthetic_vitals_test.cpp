// The demo's generated vital signs: deterministic, shaped as documented (a daily rhythm, a
// trend, about 1% missing readings).
#include "nnkit/data/synthetic_vitals.h"

#include <gtest/gtest.h>

#include <cmath>

#include "nnkit/data/csv.h"
#include "nnkit/error.h"

namespace nnkit {
namespace {

TEST(SyntheticVitals, IsDeterministicPerSeed) {
  EXPECT_EQ(synthetic_vitals_csv(3, 7), synthetic_vitals_csv(3, 7));
  EXPECT_NE(synthetic_vitals_csv(3, 7), synthetic_vitals_csv(3, 8));
  EXPECT_THROW(synthetic_vitals_csv(0, 1), ValueError);
}

TEST(SyntheticVitals, HasTheDocumentedColumnsRhythmTrendAndGaps) {
  const int days = 120;
  const CsvTable t = parse_csv(synthetic_vitals_csv(days, 1), "vitals.csv");
  ASSERT_EQ(t.rows(), days * 24);
  EXPECT_EQ(t.time_name, "time");
  EXPECT_EQ(t.time[0], "2026-01-01T00:00");
  EXPECT_EQ(t.time[31 * 24 + 5], "2026-02-01T05:00");
  ASSERT_EQ(t.columns, (std::vector<std::string>{"heart_rate", "systolic_bp", "diastolic_bp",
                                                 "temperature", "steps", "spo2"}));
  const int64_t c = 6;
  // Heart rate at 04:00 against 16:00, the first four weeks against the last four; gaps.
  double night = 0, afternoon = 0, early = 0, late = 0;
  int64_t missing = 0, asleep_steps = 0;
  for (int64_t r = 0; r < t.rows(); ++r) {
    const float hr = t.values[r * c];
    for (int64_t j = 0; j < c; ++j) missing += std::isnan(t.values[r * c + j]) ? 1 : 0;
    const int hour = static_cast<int>(r % 24), day = static_cast<int>(r / 24);
    if (hour < 7 && t.values[r * c + 4] != 0.0f) ++asleep_steps;
    if (std::isnan(hr)) continue;
    if (hour == 4) night += hr;
    if (hour == 16) afternoon += hr;
    if (day < 28 && hour < 6) early += hr;
    if (day >= days - 28 && hour < 6) late += hr;
  }
  EXPECT_GT(afternoon / days, night / days + 5.0) << "the daily rhythm and the day's activity";
  EXPECT_GT(late, early) << "resting heart rate creeps up over the weeks";
  EXPECT_EQ(asleep_steps, 0) << "no steps asleep";
  // Four sensors of six lose about 1% of their readings.
  const double fraction = static_cast<double>(missing) / (t.rows() * 4);
  EXPECT_GT(fraction, 0.005);
  EXPECT_LT(fraction, 0.02);
}

}  // namespace
}  // namespace nnkit
