#include "io/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "fmt/format.h"

namespace nnkit::chart {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// 1, 2, 5 or 10 × 10^k nearest to `raw` (> 0) by Heckbert's thresholds ("Nice numbers for
// graph labels", Graphics Gems, 1990).
double nice_step(double raw) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / magnitude;
  const double nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * magnitude;
}

// "2.50e-05" -> "2.5e-5": no trailing zeros in the mantissa, no '+' or leading zeros in the
// exponent.
std::string tidy_exponent(const std::string& text) {
  const std::size_t e = text.find('e');
  if (e == std::string::npos) return text;
  std::string mantissa = text.substr(0, e);
  if (mantissa.find('.') != std::string::npos) {
    while (mantissa.back() == '0') mantissa.pop_back();
    if (mantissa.back() == '.') mantissa.pop_back();
  }
  std::string exponent = text.substr(e + 1);
  std::string sign;
  if (!exponent.empty() && (exponent[0] == '+' || exponent[0] == '-')) {
    if (exponent[0] == '-') sign = "-";
    exponent.erase(0, 1);
  }
  const std::size_t digits = exponent.find_first_not_of('0');
  exponent = digits == std::string::npos ? "0" : exponent.substr(digits);
  return mantissa + "e" + sign + exponent;
}

}  // namespace

bool drawable(double value) { return std::isfinite(value) && std::abs(value) <= kMaxValue; }

Axis nice_axis(double lo, double hi, int target_ticks, double min_step) {
  if (!drawable(lo) || !drawable(hi)) {
    lo = 0;
    hi = 1;
  }
  if (lo > hi) std::swap(lo, hi);
  // Equal bounds, or bounds equal but for rounding: a range of nothing would divide by zero.
  if (hi - lo <= 1e-12 * std::max(std::abs(lo), std::abs(hi))) {
    const double pad = std::max(lo == 0 ? 1.0 : std::abs(lo) / 10, min_step);
    lo -= pad;
    hi += pad;
  }
  Axis axis;
  axis.step = std::max(nice_step((hi - lo) / std::max(target_ticks, 1)), min_step);
  // The 1e-9 keeps a bound that is a tick but for rounding from adding a tick beyond it.
  const double first = std::floor(lo / axis.step + 1e-9);
  const double last = std::ceil(hi / axis.step - 1e-9);
  axis.lo = first * axis.step;
  axis.hi = last * axis.step;
  for (double k = first; k <= last; ++k) axis.ticks.push_back(k == 0 ? 0.0 : k * axis.step);
  return axis;
}

Axis log_axis(double lo, double hi) {
  if (lo > hi) std::swap(lo, hi);
  const int first = static_cast<int>(std::floor(std::log10(lo) + 1e-12));
  int last = static_cast<int>(std::ceil(std::log10(hi) - 1e-12));
  if (last <= first) last = first + 1;
  const int step = (last - first + 5) / 6;  // ceil((last - first) / 6): at most 7 ticks
  last = first + step * ((last - first + step - 1) / step);
  Axis axis;
  axis.log = true;
  axis.step = step;
  axis.lo = std::pow(10.0, first);
  axis.hi = std::pow(10.0, last);
  for (int e = first; e <= last; e += step) axis.ticks.push_back(std::pow(10.0, e));
  return axis;
}

std::string tick_label(double value, double step) {
  if (value == 0) return "0";  // -0 too
  if (step < 1e-4 || std::abs(value) >= 1e7) {
    const int digits =
        static_cast<int>(std::floor(std::log10(std::abs(value))) - std::floor(std::log10(step)));
    return tidy_exponent(fmt::format("{:.{}e}", value, std::clamp(digits, 0, 15)));
  }
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.{}f}", value, decimals);
}

std::string log_tick_label(int exponent) {
  if (exponent >= -4 && exponent <= 5) {
    return fmt::format("{:.{}f}", std::pow(10.0, exponent), std::max(0, -exponent));
  }
  return fmt::format("1e{}", exponent);
}

std::vector<std::vector<std::size_t>> line_runs(const std::vector<double>& values,
                                                std::size_t buckets) {
  std::vector<std::vector<std::size_t>> runs;
  std::vector<std::size_t> run;
  for (std::size_t i = 0; i <= values.size(); ++i) {
    if (i < values.size() && drawable(values[i])) {
      run.push_back(i);
    } else if (!run.empty()) {
      runs.push_back(std::move(run));
      run.clear();
    }
  }
  const std::size_t n = values.size();
  if (buckets == 0 || n <= 4 * buckets) return runs;

  // M4 (Jugel et al., VLDB 2014): a pixel column's first, lowest, highest and last points
  // draw the same pixels as all of its points.
  auto bucket_of = [&](std::size_t i) { return i * buckets / n; };
  for (auto& full : runs) {
    std::vector<std::size_t> kept;
    std::size_t begin = 0;
    while (begin < full.size()) {
      std::size_t end = begin;
      std::size_t low = begin, high = begin;
      while (end < full.size() && bucket_of(full[end]) == bucket_of(full[begin])) {
        if (values[full[end]] < values[full[low]]) low = end;
        if (values[full[end]] > values[full[high]]) high = end;
        ++end;
      }
      std::size_t picks[4] = {begin, std::min(low, high), std::max(low, high), end - 1};
      for (std::size_t pick : picks) {
        if (kept.empty() || kept.back() != full[pick]) kept.push_back(full[pick]);
      }
      begin = end;
    }
    full = std::move(kept);
  }
  return runs;
}

std::string escape_html(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = bytes[i];
    if (c < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          // HTML forbids control characters in text, whitespace aside.
          if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
            out += kReplacement;
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    // A well-formed sequence per the Unicode Standard's table 3-7: no overlong forms, no
    // surrogates, nothing past U+10FFFF. Anything else costs one byte and one U+FFFD.
    std::size_t length = 0;
    uint32_t code = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      code = c & 0x07;
    }
    bool ok = length > 0 && i + length <= n;
    for (std::size_t k = 1; ok && k < length; ++k) {
      const unsigned char next = bytes[i + k];
      ok = (next & 0xC0) == 0x80;
      code = (code << 6) | (next & 0x3F);
    }
    ok = ok && !(length == 3 && code < 0x800) &&
         !(length == 4 && (code < 0x10000 || code > 0x10FFFF)) &&
         !(code >= 0xD800 && code <= 0xDFFF);
    if (!ok) {
      out += kReplacement;
      ++i;
      continue;
    }
    const bool c1_control = code <= 0x9F;
    const bool noncharacter = (code >= 0xFDD0 && code <= 0xFDEF) || (code & 0xFFFE) == 0xFFFE;
    if (c1_control || noncharacter) {
      out += kReplacement;
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

}  // namespace nnkit::chart
