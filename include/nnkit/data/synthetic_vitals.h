// Synthetic vital signs: the embedded data of `nnkit demo`. No public multivariate health time
// series with a licence that allows shipping it could be fetched for the repository, so the
// demo generates one (data/README.md): hourly readings of one person over `days` days, with
//   - a daily rhythm: heart rate, blood pressure and temperature lowest before dawn, asleep
//     from 23:00 to 07:00 (SpO2 dips a little in sleep);
//   - activity: steps in bursts while awake, which raise heart rate and blood pressure in
//     the same hour and the next;
//   - a slow trend: resting heart rate and systolic pressure creep up over the weeks;
//   - noise that persists from hour to hour (AR(1)), as sensor readings do;
//   - missing readings: about 1% of the heart rate, blood pressure and SpO2 cells are empty.
// Columns: time (ISO 8601, hourly from 2026-01-01T00:00), heart_rate (bpm), systolic_bp,
// diastolic_bp (mmHg), temperature (°C), steps (per hour), spo2 (%).
#pragma once

#include <cstdint>
#include <string>

namespace nnkit {

// The series as CSV text with a header row; the same days and seed give the same bytes.
// Throws ValueError when days < 1.
std::string synthetic_vitals_csv(int days, uint64_t seed);

}  // namespace nnkit
