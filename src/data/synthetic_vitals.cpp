#include "nnkit/data/synthetic_vitals.h"

#include <cmath>
#include <numbers>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/random.h"

namespace nnkit {

namespace {

// Noise that persists: x ← φ·x + σ·√(1 − φ²)·N(0, 1), stationary with standard deviation σ.
struct Ar1 {
  double phi, sigma, value = 0.0;
  double next(Rng& rng) {
    value = phi * value + sigma * std::sqrt(1.0 - phi * phi) * rng.normal(0.0f, 1.0f);
    return value;
  }
};

// Days in the months of a non-leap year, for the timestamps.
constexpr int kMonthDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

std::string timestamp(int day, int hour) {
  int year = 2026, month = 0;
  while (day >= kMonthDays[month]) {
    day -= kMonthDays[month];
    if (++month == 12) {
      month = 0;
      ++year;
    }
  }
  return fmt::format("{}-{:02}-{:02}T{:02}:00", year, month + 1, day + 1, hour);
}

}  // namespace

std::string synthetic_vitals_csv(int days, uint64_t seed) {
  if (days < 1)
    throw ValueError(fmt::format("synthetic_vitals_csv: days must be >= 1, got {}", days));
  Rng rng(seed);
  Ar1 hr_noise{0.7, 2.5}, sys_noise{0.6, 3.0}, dia_noise{0.6, 2.0}, temp_noise{0.8, 0.08},
      spo2_noise{0.5, 0.5}, activity{0.6, 1.0};
  std::string out = "time,heart_rate,systolic_bp,diastolic_bp,temperature,steps,spo2\n";
  double previous_steps = 0.0;
  for (int day = 0; day < days; ++day) {
    // An active or a quiet day, and the trend of the weeks.
    const double day_activity = 0.6 + 0.8 * rng.uniform(0.0f, 1.0f);
    const double weeks = day / 7.0;
    for (int hour = 0; hour < 24; ++hour) {
      const bool asleep = hour >= 23 || hour < 7;
      // Lowest about 04:00, highest about 16:00.
      const double rhythm = -std::cos(2.0 * std::numbers::pi * (hour - 4) / 24.0);
      double steps = 0.0;
      if (!asleep) {
        const double burst = std::max(0.0, activity.next(rng) + 0.3);
        steps = std::round(day_activity * (150.0 + 900.0 * burst * burst));
      }
      const double load = steps / 1000.0 + 0.4 * previous_steps / 1000.0;
      const double heart_rate = 64.0 + 0.15 * weeks + 6.0 * rhythm + 9.0 * load +
                                (asleep ? -4.0 : 0.0) + hr_noise.next(rng);
      const double systolic =
          117.0 + 0.25 * weeks + 5.0 * rhythm + 6.0 * load + sys_noise.next(rng);
      const double diastolic = 75.0 + 0.1 * weeks + 3.0 * rhythm + 3.0 * load +
                               0.3 * sys_noise.value + dia_noise.next(rng);
      const double temperature = 36.6 +
                                 0.3 * -std::cos(2.0 * std::numbers::pi * (hour - 5) / 24.0) +
                                 0.05 * load + temp_noise.next(rng);
      const double spo2 = std::min(100.0, 97.5 + (asleep ? -0.8 : 0.0) + spo2_noise.next(rng));
      previous_steps = steps;
      // A reading lost now and then (about 1% per sensor).
      auto reading = [&](double v, int decimals) {
        return rng.uniform(0.0f, 1.0f) < 0.01f ? std::string()
                                               : fmt::format("{:.{}f}", v, decimals);
      };
      out += fmt::format("{},{},{},{},{:.2f},{:.0f},{}\n", timestamp(day, hour),
                         reading(heart_rate, 1), reading(systolic, 0), reading(diastolic, 0),
                         temperature, steps, reading(spo2, 1));
    }
  }
  return out;
}

}  // namespace nnkit
