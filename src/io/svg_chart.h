// Pieces of the report's charts (io/html_report.h), apart so that tests can check them alone:
// axis ticks, tick labels, the runs of points a line chart draws, and HTML escaping.
// Internal to nnkit: not installed, not public.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nnkit::chart {

// Values beyond this magnitude are treated as non-finite: ranges and coordinates built from
// them would overflow.
constexpr double kMaxValue = 1e300;

// Finite and within ±kMaxValue: a value a chart draws.
bool drawable(double value);

// A linear or decimal-log axis: the drawn range [lo, hi] and the tick values inside it.
struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  double step = 1;   // linear: the distance between ticks; log: decades between ticks
  bool log = false;  // positions go by log10(value)
};

// A linear axis over [lo, hi] with ticks at multiples of a "nice" step (1, 2 or 5 × 10^k,
// at least min_step) chosen so that about `target_ticks` intervals cover the range; lo and hi
// are widened to the outer ticks. A single value v is widened to v ± max(|v|/10, min_step)
// (± 1 for 0) first; non-drawable bounds give [0, 1]. lo > hi are swapped.
Axis nice_axis(double lo, double hi, int target_ticks, double min_step = 0);

// A log axis over [lo, hi], 0 < lo ≤ hi drawable: from the decade at or below lo to the one at
// or above hi (at least one decade), ticks at powers of ten, every `step` decades so that
// there are at most 7.
Axis log_axis(double lo, double hi);

// The label of a linear tick `value` on an axis whose ticks are `step` apart: as many decimals
// as the step needs ("0.2", "15", "-0.05"); exponent notation ("2e-5", "1.5e7") when the step
// is below 1e-4 or a tick reaches 1e7.
std::string tick_label(double value, double step);
// The label of a log tick 10^exponent: "0.001" ... "100000" for exponents -4 to 5, else "1e-5".
std::string log_tick_label(int exponent);

// The indices a line chart draws for `values`: runs of consecutive drawable values, each run one
// piece of line (a gap between runs). When there are more than 4 values per bucket, with
// `buckets` buckets (pixel columns) spread evenly over the values' positions, each run keeps
// per bucket only its first, lowest, highest and last point (in order, without repeats): the
// line looks the same at that width and spikes survive.
std::vector<std::vector<std::size_t>> line_runs(const std::vector<double>& values,
                                                std::size_t buckets);

// `text` for HTML text and double-quoted attribute values: & < > " ' escaped; bytes that are
// not well-formed UTF-8, control characters other than tab, LF and CR, and noncharacters
// replaced by U+FFFD.
std::string escape_html(std::string_view text);

}  // namespace nnkit::chart
