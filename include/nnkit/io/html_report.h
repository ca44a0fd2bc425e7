// The training report: one self-contained HTML page (UTF-8, inline SVG charts, no scripts, no
// external resources; a Content-Security-Policy forbids any fetch) showing what a training run
// did: a table of facts, the loss curves per epoch, the validation metrics and, for forecasts,
// predicted against actual values on the validation part.
//
// What a test or a reader can rely on in the page:
// - <svg class="loss-chart"> holds one <g class="series" data-name="NAME" data-points="K"> per
//   curve, K its finite values; each run of consecutive finite values is one <polyline> (two or
//   more points) or one <circle> (a point alone), so non-finite values leave gaps. The best
//   epoch, when set, is <g class="best-epoch" data-epoch="E"> with E 1-based, as the x axis.
// - <svg class="forecast-chart" data-target="TARGET"> per forecast, with series named
//   "actual", "predicted" and, when given, "naive". A series of more than 4 values per pixel
//   column of the plot (802 columns) keeps in each column only the first, lowest, highest and
//   last point of each run (M4), which draws the same picture: 10,000 values take about 30 KB.
// - Every text from outside (titles, names, labels, cells) is HTML-escaped; bytes that are not
//   UTF-8, and control characters, become U+FFFD.
// - Values beyond ±1e300 count as non-finite. Charts never hold NaN or infinite coordinates.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nnkit {

// One value per epoch (epoch 1 first), e.g. "loss" or "val_loss". Non-finite = not recorded.
struct ReportCurve {
  std::string name;
  std::vector<double> values;
};

// Predicted against actual values of one target on the validation part, in original units.
struct ReportForecast {
  std::string target;               // the column's name, e.g. "heart_rate"
  std::string x_name;               // the x axis' title, e.g. the time column's name or "row"
  std::vector<std::string> labels;  // x tick labels, one per point; empty: 0-based point numbers
  std::vector<double> actual;       // NaN (or any non-finite value) = missing point, a gap
  std::vector<double> predicted;    // as many as actual
  std::vector<double> naive;        // the naive forecast: empty, or as many as actual
};

struct TrainingReport {
  std::string title;  // e.g. "nnkit train: health.safetensors"; empty: "nnkit training report"
  std::vector<std::pair<std::string, std::string>> facts;  // rows of key and value
  // Drawn together in one chart, y on a log scale when every finite value is positive and
  // they span more than two decades.
  std::vector<ReportCurve> curves;
  std::optional<int> best_epoch;  // 0-based; marked on the loss chart
  // First row: the header (e.g. target, RMSE, MAE, MAPE, naive RMSE); rows may differ in length.
  std::vector<std::vector<std::string>> metrics_table;
  std::vector<ReportForecast> forecasts;  // none: no forecast section
};

// The page. Sections without content are left out (no facts, no metrics, no forecasts); with no
// curve values the loss section says that no epoch was recorded. Throws ValueError when a
// forecast's predicted, naive or labels differ in length from its actual values (naming the
// target), or when best_epoch is negative or not below the longest curve's length.
std::string render_html_report(const TrainingReport& report);

// Renders and writes the page to a temporary file beside `path`, renamed into place, so that
// an existing report is replaced whole or not at all. Throws what render_html_report() throws
// (nothing written then) and IoError naming `path` when it cannot be written.
void write_html_report(const std::string& path, const TrainingReport& report);

}  // namespace nnkit
