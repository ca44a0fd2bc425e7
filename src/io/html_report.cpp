#include "nnkit/io/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <string_view>
#include <utility>

#include "fmt/format.h"
#include "io/svg_chart.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"

namespace nnkit {

namespace {

using chart::Axis;
using chart::drawable;
using chart::escape_html;

// The charts' coordinate system (the SVG viewBox); CSS scales them to the page's width.
constexpr int kChartWidth = 900;
constexpr int kLossChartHeight = 340;
constexpr int kForecastChartHeight = 300;
constexpr double kMarginLeft = 76, kMarginRight = 22, kMarginTop = 34, kMarginBottom = 46;
constexpr double kPlotWidth = kChartWidth - kMarginLeft - kMarginRight;
// Rough width of a character of the charts' 12 px sans-serif text, to lay out legends and
// space tick labels (SVG without scripts cannot measure text).
constexpr double kCharWidth = 6.8;
// x tick labels longer than this many characters are cut, so that neighbours do not collide.
constexpr std::size_t kMaxTickLabelChars = 20;
// The loss curves' colours, in order (Tableau 10, readable on white and to most colour-blind
// readers).
constexpr std::string_view kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                         "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

// One line of a chart.
struct ChartLine {
  std::string name;   // data-name, e.g. "val_loss"
  std::string label;  // legend text
  const std::vector<double>* values;
  std::string_view color;
  double width;
  bool dashed;
};

struct XTick {
  double position;
  std::string label;
};

struct ChartSpec {
  std::string attributes;  // class and data-* attributes of the <svg>, escaped
  std::string aria_label;  // unescaped
  int height;
  std::vector<ChartLine> lines;
  // Value i of every line sits at x position x_offset + i; the x axis shows [x_lo, x_hi].
  double x_offset, x_lo, x_hi;
  std::vector<XTick> x_ticks;
  std::string x_title;
  bool allow_log;
  std::optional<std::size_t> marker;  // an index marked by a vertical line (the best epoch)
  std::string marker_label;
  std::string marker_attributes;
};

// Number of Unicode characters (not bytes) in UTF-8 text, for width estimates.
std::size_t char_count(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// The first `limit` characters of UTF-8 text, with "…" when cut; never splits a character.
std::string shorten(std::string_view text, std::size_t limit) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == limit) return std::string(text.substr(0, i)) + "\xE2\x80\xA6";
    ++chars;
  }
  return std::string(text);
}

std::string coordinate(double v) { return fmt::format("{:.1f}", v); }

// Maps data to the plot area's pixels. Both spans are positive by construction of the axes;
// the guards keep a degenerate one from dividing by zero all the same.
class Plot {
 public:
  Plot(double height, double x_lo, double x_hi, Axis y)
      : height_(height - kMarginTop - kMarginBottom), x_lo_(x_lo), x_hi_(x_hi), y_(std::move(y)) {}

  double x(double position) const {
    const double span = x_hi_ > x_lo_ ? x_hi_ - x_lo_ : 1;
    return kMarginLeft + (position - x_lo_) / span * kPlotWidth;
  }
  double y(double value) const {
    double t = 0;
    if (y_.log) {
      const double lo = std::log10(y_.lo), hi = std::log10(y_.hi);
      t = (std::log10(value) - lo) / (hi > lo ? hi - lo : 1);
    } else {
      t = (value - y_.lo) / (y_.hi > y_.lo ? y_.hi - y_.lo : 1);
    }
    return kMarginTop + height_ * (1 - t);
  }
  double top() const { return kMarginTop; }
  double bottom() const { return kMarginTop + height_; }
  const Axis& y_axis() const { return y_; }

 private:
  double height_, x_lo_, x_hi_;
  Axis y_;
};

// The y axis over every drawable value of the lines: log when allowed, all are positive and
// they span more than two decades.
Axis y_axis_for(const std::vector<ChartLine>& lines, bool allow_log) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const ChartLine& line : lines) {
    for (double v : *line.values) {
      if (!drawable(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (lo > hi) return chart::nice_axis(0, 1, 5);  // nothing to draw
  // 1e-300: the decade below stays a normal double.
  if (allow_log && lo >= 1e-300 && hi / lo > 100) return chart::log_axis(lo, hi);
  return chart::nice_axis(lo, hi, 5);
}

std::string render_chart(const ChartSpec& spec) {
  const Plot plot(spec.height, spec.x_lo, spec.x_hi, y_axis_for(spec.lines, spec.allow_log));
  const Axis& y_axis = plot.y_axis();
  std::string svg = fmt::format(
      "<svg {} viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"{}\">\n",
      spec.attributes, kChartWidth, spec.height, kChartWidth, spec.height,
      escape_html(spec.aria_label));

  // Grid and y ticks.
  svg += "<g class=\"y-axis\">\n";
  for (std::size_t i = 0; i < y_axis.ticks.size(); ++i) {
    const double tick = y_axis.ticks[i];
    const std::string label =
        y_axis.log ? chart::log_tick_label(static_cast<int>(std::lround(std::log10(tick))))
                   : chart::tick_label(tick, y_axis.step);
    const std::string y = coordinate(plot.y(tick));
    svg += fmt::format(
        "<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>"
        "<text class=\"tick\" x=\"{}\" y=\"{}\" dy=\"0.32em\" text-anchor=\"end\">{}</text>\n",
        kMarginLeft, kChartWidth - kMarginRight, y, y, kMarginLeft - 8, y, escape_html(label));
  }
  svg += "</g>\n";

  // x axis: the baseline, ticks and labels kept inside the picture.
  svg += fmt::format(
      "<g class=\"x-axis\">\n<line class=\"axis\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>\n",
      kMarginLeft, kChartWidth - kMarginRight, coordinate(plot.bottom()),
      coordinate(plot.bottom()));
  for (const XTick& tick : spec.x_ticks) {
    const double x = plot.x(tick.position);
    const double half = kCharWidth * static_cast<double>(char_count(tick.label)) / 2;
    const char* anchor = x + half > kChartWidth ? "end" : x - half < 0 ? "start" : "middle";
    svg += fmt::format(
        "<line class=\"axis\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>"
        "<text class=\"tick\" x=\"{0}\" y=\"{3}\" text-anchor=\"{4}\">{5}</text>\n",
        coordinate(x), coordinate(plot.bottom()), coordinate(plot.bottom() + 5),
        coordinate(plot.bottom() + 19), anchor, escape_html(tick.label));
  }
  if (!spec.x_title.empty()) {
    svg += fmt::format(
        "<text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
        coordinate(kMarginLeft + kPlotWidth / 2), spec.height - 8, escape_html(spec.x_title));
  }
  svg += "</g>\n";

  // The lines: one polyline per run of drawable values, a dot for a value alone.
  for (const ChartLine& line : spec.lines) {
    const auto runs = chart::line_runs(*line.values, static_cast<std::size_t>(kPlotWidth));
    const auto points = std::count_if(line.values->begin(), line.values->end(), drawable);
    svg += fmt::format(
        "<g class=\"series\" data-name=\"{}\" data-points=\"{}\" stroke=\"{}\" stroke-width=\"{}\" "
        "fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\"{}>"
        "<title>{}</title>\n",
        escape_html(line.name), points, line.color, line.width,
        line.dashed ? " stroke-dasharray=\"5 4\"" : "", escape_html(line.label));
    for (const auto& run : runs) {
      auto at = [&](std::size_t i) {
        return std::pair(plot.x(spec.x_offset + static_cast<double>(i)), plot.y((*line.values)[i]));
      };
      if (run.size() == 1) {
        const auto [x, y] = at(run[0]);
        svg += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\" stroke=\"none\"/>\n",
                           coordinate(x), coordinate(y), line.width + 1.5, line.color);
        continue;
      }
      svg += "<polyline points=\"";
      for (std::size_t k = 0; k < run.size(); ++k) {
        const auto [x, y] = at(run[k]);
        if (k > 0) svg += ' ';
        svg += coordinate(x);
        svg += ',';
        svg += coordinate(y);
      }
      svg += "\"/>\n";
    }
    svg += "</g>\n";
  }

  // The marked index: a dashed vertical line, a dot on each line that has a value there.
  if (spec.marker) {
    const std::size_t i = *spec.marker;
    const double x = plot.x(spec.x_offset + static_cast<double>(i));
    svg += fmt::format(
        "<g class=\"best-epoch\" {}><line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" "
        "stroke=\"#6e7781\" stroke-width=\"1\" stroke-dasharray=\"3 3\"/>\n",
        spec.marker_attributes, coordinate(x), coordinate(x), coordinate(plot.top()),
        coordinate(plot.bottom()));
    const bool label_left =
        x + kCharWidth * static_cast<double>(char_count(spec.marker_label)) + 6 >
        kChartWidth - kMarginRight;
    svg += fmt::format("<text class=\"marker\" x=\"{}\" y=\"{}\" text-anchor=\"{}\">{}</text>\n",
                       coordinate(label_left ? x - 5 : x + 5), coordinate(plot.top() + 12),
                       label_left ? "end" : "start", escape_html(spec.marker_label));
    for (const ChartLine& line : spec.lines) {
      if (i >= line.values->size() || !drawable((*line.values)[i])) continue;
      svg += fmt::format(
          "<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"#fff\" stroke=\"{}\" stroke-width=\"2\"/>\n",
          coordinate(x), coordinate(plot.y((*line.values)[i])), line.color);
    }
    svg += "</g>\n";
  }

  // The legend, in a row above the plot.
  svg += "<g class=\"legend\">\n";
  double x = kMarginLeft;
  for (const ChartLine& line : spec.lines) {
    const std::string label = shorten(line.label, 40);
    svg += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"16\" y2=\"16\" stroke=\"{}\" stroke-width=\"{}\"{}/>"
        "<text x=\"{}\" y=\"16\" dy=\"0.32em\">{}</text>\n",
        coordinate(x), coordinate(x + 22), line.color, std::max(line.width, 2.0),
        line.dashed ? " stroke-dasharray=\"5 4\"" : "", coordinate(x + 28), escape_html(label));
    x += 28 + kCharWidth * static_cast<double>(char_count(label)) + 20;
  }
  if (y_axis.log) {
    svg += fmt::format(
        "<text class=\"note\" x=\"{}\" y=\"16\" dy=\"0.32em\" text-anchor=\"end\">"
        "log scale</text>\n",
        kChartWidth - kMarginRight);
  }
  svg += "</g>\n</svg>\n";
  return svg;
}

// x ticks at "nice" positions within [lo, hi], at least one apart (positions are indices).
std::vector<double> x_positions(double lo, double hi, int target_ticks) {
  if (hi <= lo) return {lo};
  std::vector<double> kept;
  for (double tick : chart::nice_axis(lo, hi, target_ticks, 1).ticks) {
    if (tick >= lo && tick <= hi) kept.push_back(tick);
  }
  return kept;
}

std::string loss_section(const TrainingReport& report, std::size_t epochs) {
  std::string html = "<section class=\"loss\">\n<h2>Loss per epoch</h2>\n";
  if (epochs == 0) {
    return html + "<p class=\"note\">No epoch was recorded.</p>\n</section>\n";
  }
  ChartSpec spec;
  spec.attributes = "class=\"loss-chart\"";
  spec.aria_label = "loss per epoch";
  spec.height = kLossChartHeight;
  for (std::size_t i = 0; i < report.curves.size(); ++i) {
    const ReportCurve& curve = report.curves[i];
    spec.lines.push_back(
        {curve.name, curve.name, &curve.values, kPalette[i % std::size(kPalette)], 2, false});
  }
  // Epochs count from 1, as the progress bar and the log print them.
  spec.x_offset = 1;
  const double last = static_cast<double>(epochs);
  spec.x_lo = epochs == 1 ? 0 : 1;
  spec.x_hi = epochs == 1 ? 2 : last;
  for (double position : x_positions(1, last, 10)) {
    spec.x_ticks.push_back({position, fmt::format("{}", static_cast<long long>(position))});
  }
  spec.x_title = "epoch";
  spec.allow_log = true;
  if (report.best_epoch) {
    spec.marker = static_cast<std::size_t>(*report.best_epoch);
    spec.marker_label = fmt::format("best: epoch {}", *report.best_epoch + 1);
    spec.marker_attributes = fmt::format("data-epoch=\"{}\"", *report.best_epoch + 1);
  }
  return html + render_chart(spec) + "</section>\n";
}

std::string forecast_figure(const ReportForecast& forecast) {
  const std::size_t n = forecast.actual.size();
  ChartSpec spec;
  spec.attributes =
      fmt::format("class=\"forecast-chart\" data-target=\"{}\"", escape_html(forecast.target));
  spec.aria_label = "predicted against actual values of " + forecast.target;
  spec.height = kForecastChartHeight;
  // Behind the others: the naive forecast, then the actual values, the prediction on top.
  if (!forecast.naive.empty()) {
    spec.lines.push_back({"naive", "naive (last value)", &forecast.naive, "#a0a7b0", 1.4, true});
  }
  spec.lines.push_back({"actual", "actual", &forecast.actual, "#2b3137", 1.6, false});
  spec.lines.push_back({"predicted", "predicted", &forecast.predicted, "#1f77b4", 1.6, false});

  auto label = [&](std::size_t i) {
    return forecast.labels.empty() ? fmt::format("{}", i)
                                   : shorten(forecast.labels[i], kMaxTickLabelChars);
  };
  std::size_t longest = 1;
  for (std::size_t i = 0; i < n && !forecast.labels.empty(); ++i) {
    longest = std::max(longest, char_count(label(i)));
  }
  if (forecast.labels.empty()) longest = fmt::format("{}", n).size();
  // As many ticks as fit with room to spare; nice steps can give up to 1.5 times the target.
  const double label_width = kCharWidth * static_cast<double>(longest) + 16;
  const int target = std::clamp(static_cast<int>(kPlotWidth / (1.5 * label_width)), 1, 8);
  spec.x_offset = 0;
  const double last = n == 0 ? 0 : static_cast<double>(n - 1);
  spec.x_lo = n <= 1 ? -1 : 0;
  spec.x_hi = n <= 1 ? 1 : last;
  if (n > 0) {
    for (double position : x_positions(0, last, target)) {
      spec.x_ticks.push_back({position, label(static_cast<std::size_t>(position))});
    }
  }
  spec.x_title = forecast.x_name;
  spec.allow_log = false;

  return fmt::format(
             "<figure class=\"forecast\" data-target=\"{}\">\n<figcaption>{}</figcaption>\n",
             escape_html(forecast.target), escape_html(forecast.target)) +
         render_chart(spec) + "</figure>\n";
}

std::string table_row(const std::vector<std::string>& cells, const char* tag) {
  std::string row = "<tr>";
  for (const std::string& cell : cells) {
    row += fmt::format("<{0}>{1}</{0}>", tag, escape_html(cell));
  }
  return row + "</tr>\n";
}

void check(const TrainingReport& report, std::size_t epochs) {
  for (const ReportForecast& f : report.forecasts) {
    auto same_length = [&](const std::vector<double>& values, const char* what, bool optional) {
      if (values.size() == f.actual.size() || (optional && values.empty())) return;
      throw ValueError(fmt::format("report: forecast of \"{}\": {} has {} values, actual has {}",
                                   f.target, what, values.size(), f.actual.size()));
    };
    same_length(f.predicted, "predicted", false);
    same_length(f.naive, "naive", true);
    if (!f.labels.empty() && f.labels.size() != f.actual.size()) {
      throw ValueError(fmt::format("report: forecast of \"{}\": {} labels for {} values", f.target,
                                   f.labels.size(), f.actual.size()));
    }
  }
  if (report.best_epoch &&
      (*report.best_epoch < 0 || static_cast<std::size_t>(*report.best_epoch) >= epochs)) {
    throw ValueError(
        fmt::format("report: best_epoch {} (0-based) is outside the {} recorded epochs",
                    *report.best_epoch, epochs));
  }
}

constexpr std::string_view kStyle = R"(
:root { color-scheme: light; }
body { margin: 0; background: #f5f6f8; color: #1f2328;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 20px 32px; }
h1 { font-size: 22px; font-weight: 600; margin: 0 0 16px; overflow-wrap: anywhere; }
h2 { font-size: 16px; font-weight: 600; margin: 0 0 10px; }
section { background: #fff; border: 1px solid #dfe3e8; border-radius: 8px; padding: 16px 18px;
  margin: 0 0 16px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 16px 4px 0; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
table.facts th { color: #59636e; font-weight: 500; }
table.metrics thead th { border-bottom: 1px solid #c8d0d8; }
table.metrics tbody td { border-bottom: 1px solid #eef0f3; }
table.metrics td + td, table.metrics th + th { text-align: right; }
figure { margin: 0 0 18px; }
figure:last-child { margin-bottom: 0; }
figcaption { font-weight: 600; margin: 0 0 4px; overflow-wrap: anywhere; }
svg { display: block; width: 100%; height: auto; }
svg text { font-family: system-ui, sans-serif; font-size: 12px; fill: #424a53; }
svg text.note, svg text.marker { fill: #6e7781; font-size: 11px; }
svg .grid { stroke: #eaedf0; stroke-width: 1; }
svg .axis { stroke: #8c959f; stroke-width: 1; }
p.note { color: #59636e; margin: 0; }
footer { color: #8c959f; font-size: 12px; text-align: center; }
)";

}  // namespace

std::string render_html_report(const TrainingReport& report) {
  std::size_t epochs = 0;
  for (const ReportCurve& curve : report.curves) epochs = std::max(epochs, curve.values.size());
  check(report, epochs);

  const std::string title =
      escape_html(report.title.empty() ? "nnkit training report" : report.title);
  // The policy makes the promise of no network hold even for a page edited by hand.
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'\">\n"
      "<title>{0}</title>\n<style>{1}</style>\n</head>\n<body>\n<main>\n<h1>{0}</h1>\n",
      title, kStyle);

  if (!report.facts.empty()) {
    html += "<section class=\"facts\">\n<div class=\"scroll\"><table class=\"facts\"><tbody>\n";
    for (const auto& [key, value] : report.facts) {
      html += fmt::format("<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n", escape_html(key),
                          escape_html(value));
    }
    html += "</tbody></table></div>\n</section>\n";
  }

  html += loss_section(report, epochs);

  if (!report.metrics_table.empty()) {
    html +=
        "<section class=\"metrics\">\n<h2>Validation metrics</h2>\n"
        "<div class=\"scroll\"><table class=\"metrics\">\n<thead>" +
        table_row(report.metrics_table[0], "th") + "</thead>\n<tbody>\n";
    for (std::size_t i = 1; i < report.metrics_table.size(); ++i) {
      html += table_row(report.metrics_table[i], "td");
    }
    html += "</tbody></table></div>\n</section>\n";
  }

  if (!report.forecasts.empty()) {
    html += "<section class=\"forecasts\">\n<h2>Forecasts on the validation part</h2>\n";
    for (const ReportForecast& forecast : report.forecasts) html += forecast_figure(forecast);
    html += "</section>\n";
  }

  html +=
      "<footer>Written by nnkit: one file, no scripts, nothing fetched.</footer>\n"
      "</main>\n</body>\n</html>\n";
  return html;
}

void write_html_report(const std::string& path, const TrainingReport& report) {
  write_file_atomically(path, render_html_report(report));
}

}  // namespace nnkit
