#include "nnkit/io/html_report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "io/report_dom.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"
#include "scratch_dir.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::count;
using testing::element;
using testing::expect_throw_containing;
using testing::Point;
using testing::ScratchDir;
using testing::series;
using testing::SeriesShape;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The charts' geometry, as html_report.cpp lays it out: a 900-wide viewBox, the plot from
// x = 76 to 878 and from y = 34 to height - 46 (294 in the 340-high loss chart, 254 in the
// 300-high forecast charts).
constexpr double kLeft = 76, kRight = 878, kTop = 34, kLossBottom = 294, kForecastBottom = 254;

std::string loss_chart(const std::string& html) {
  return element(html, "<svg class=\"loss-chart\"", "</svg>");
}
std::string forecast_chart(const std::string& html, const std::string& target) {
  return element(html, "<svg class=\"forecast-chart\" data-target=\"" + target + "\"", "</svg>");
}

void expect_points(const std::vector<Point>& got, const std::vector<Point>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got[i].first, want[i].first, 0.051) << "x of point " << i;
    EXPECT_NEAR(got[i].second, want[i].second, 0.051) << "y of point " << i;
  }
}

// The values of the <text class="tick"> elements in `svg`, in order.
std::vector<std::string> tick_texts(const std::string& svg) {
  std::vector<std::string> texts;
  const std::string open = "<text class=\"tick\"";
  for (std::size_t at = svg.find(open); at != std::string::npos; at = svg.find(open, at + 1)) {
    const std::size_t begin = svg.find('>', at) + 1;
    texts.push_back(svg.substr(begin, svg.find("</text>", begin) - begin));
  }
  return texts;
}

bool contains(const std::vector<std::string>& texts, const std::string& text) {
  return std::find(texts.begin(), texts.end(), text) != texts.end();
}

// No NaN or infinity in coordinates (the test's names hold neither word).
void expect_finite_coordinates(const std::string& svg) {
  std::string lower = svg;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(lower.find("nan"), std::string::npos);
  EXPECT_EQ(lower.find("inf"), std::string::npos);
}

ReportForecast forecast(const std::string& target, std::vector<double> actual,
                        std::vector<double> predicted, std::vector<double> naive = {}) {
  ReportForecast f;
  f.target = target;
  f.x_name = "row";
  f.actual = std::move(actual);
  f.predicted = std::move(predicted);
  f.naive = std::move(naive);
  return f;
}

// ---- the page ------------------------------------------------------------------------------

TEST(HtmlReport, IsOneHtml5PageThatFetchesNothing) {
  TrainingReport report;
  report.title = "nnkit train: health.safetensors";
  report.curves = {{"loss", {1.0, 0.5}}};
  report.forecasts = {forecast("heart_rate", {60, 61}, {60.5, 61.5})};
  const std::string html = render_html_report(report);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">", 0),
            0u);
  EXPECT_NE(html.find("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';"),
            std::string::npos);
  EXPECT_NE(html.find("<title>nnkit train: health.safetensors</title>"), std::string::npos);
  EXPECT_NE(html.find("<h1>nnkit train: health.safetensors</h1>"), std::string::npos);
  EXPECT_EQ(html.substr(html.size() - 16), "</body>\n</html>\n");
  for (const char* outside : {"http:", "https:", "url(", "@import", "<script", "<link",
                              "src=", "href=", "<img", "<iframe"}) {
    EXPECT_EQ(html.find(outside), std::string::npos) << outside;
  }
  EXPECT_EQ(count(html, "<svg "), 2);
  EXPECT_EQ(count(html, "</svg>"), 2);
}

TEST(HtmlReport, UntitledReportGetsADefaultTitle) {
  const std::string html = render_html_report({});
  EXPECT_NE(html.find("<title>nnkit training report</title>"), std::string::npos);
}

TEST(HtmlReport, FactsAreRowsOfKeyAndValue) {
  TrainingReport report;
  report.facts = {{"model", "LSTM(128)"}, {"epochs", "23"}};
  const std::string html = render_html_report(report);
  EXPECT_NE(html.find("<tr><th scope=\"row\">model</th><td>LSTM(128)</td></tr>\n"
                      "<tr><th scope=\"row\">epochs</th><td>23</td></tr>"),
            std::string::npos);
}

TEST(HtmlReport, MetricsTableHasTheFirstRowAsHeader) {
  TrainingReport report;
  report.metrics_table = {{"target", "RMSE", "naive RMSE"}, {"heart_rate", "11.89", "13.97"}};
  const std::string html = render_html_report(report);
  const std::string table = element(html, "<table class=\"metrics\">", "</table>");
  EXPECT_NE(table.find("<thead><tr><th>target</th><th>RMSE</th><th>naive RMSE</th></tr>\n</thead>"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("<tbody>\n<tr><td>heart_rate</td><td>11.89</td><td>13.97</td></tr>"),
            std::string::npos)
      << table;
}

TEST(HtmlReport, EmptyPartsLeaveTheirSectionsOut) {
  const std::string html = render_html_report({});
  EXPECT_EQ(html.find("class=\"facts\""), std::string::npos);
  EXPECT_EQ(html.find("class=\"metrics\""), std::string::npos);
  EXPECT_EQ(html.find("class=\"forecasts\""), std::string::npos);
  EXPECT_EQ(html.find("forecast-chart"), std::string::npos);
  // With no epoch recorded, the loss section says so instead of drawing an empty chart.
  EXPECT_EQ(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("No epoch was recorded."), std::string::npos);

  TrainingReport empty_curves;
  empty_curves.curves = {{"loss", {}}, {"val_loss", {}}};
  EXPECT_NE(render_html_report(empty_curves).find("No epoch was recorded."), std::string::npos);
}

// ---- the loss chart ------------------------------------------------------------------------

TEST(HtmlReport, LossChartDrawsEveryCurveAtHandComputedCoordinates) {
  TrainingReport report;
  // Values from 0.2 to 1.0: ticks 0.2 apart, the y axis from 0.2 (y = 294) to 1.0 (y = 34).
  // Epochs 1 to 3: x from 76 to 878.
  report.curves = {{"loss", {1.0, 0.6, 0.2}}, {"val_loss", {0.8, 0.7, 0.4}}};
  const std::string svg = loss_chart(render_html_report(report));
  ASSERT_FALSE(svg.empty());
  const SeriesShape loss = series(svg, "loss");
  ASSERT_TRUE(loss.found);
  EXPECT_EQ(loss.declared_points, 3);
  ASSERT_EQ(loss.lines.size(), 1u);
  EXPECT_TRUE(loss.dots.empty());
  expect_points(loss.lines[0], {{kLeft, kTop}, {477, 164}, {kRight, kLossBottom}});
  const SeriesShape val_loss = series(svg, "val_loss");
  ASSERT_EQ(val_loss.lines.size(), 1u);
  expect_points(val_loss.lines[0], {{kLeft, 99}, {477, 131.5}, {kRight, 229}});

  EXPECT_EQ(tick_texts(svg),
            (std::vector<std::string>{"0.2", "0.4", "0.6", "0.8", "1.0", "1", "2", "3"}));
  EXPECT_EQ(svg.find("log scale"), std::string::npos);
  // The legend names both curves.
  const std::string legend = element(svg, "<g class=\"legend\">", "</g>");
  EXPECT_NE(legend.find(">loss</text>"), std::string::npos);
  EXPECT_NE(legend.find(">val_loss</text>"), std::string::npos);
}

TEST(HtmlReport, NonFiniteLossValuesLeaveGaps) {
  TrainingReport report;
  report.curves = {{"loss", {1.0, 0.8, 0.6, 0.4, 0.2}}, {"val_loss", {0.9, kNaN, 0.5, 0.45, kInf}}};
  const std::string svg = loss_chart(render_html_report(report));
  const SeriesShape val_loss = series(svg, "val_loss");
  EXPECT_EQ(val_loss.declared_points, 3);
  // Epoch 1 alone: a dot; epochs 3 and 4: a line; x = 76 + (epoch - 1) · 200.5.
  ASSERT_EQ(val_loss.dots.size(), 1u);
  EXPECT_NEAR(val_loss.dots[0].first, kLeft, 0.051);
  EXPECT_NEAR(val_loss.dots[0].second, 66.5, 0.051);
  ASSERT_EQ(val_loss.lines.size(), 1u);
  expect_points(val_loss.lines[0], {{477, 196.5}, {677.5, 212.75}});
  expect_finite_coordinates(svg);
}

TEST(HtmlReport, ASingleEpochIsADotInTheMiddle) {
  TrainingReport report;
  report.curves = {{"loss", {0.5}}};
  const std::string svg = loss_chart(render_html_report(report));
  const SeriesShape loss = series(svg, "loss");
  EXPECT_TRUE(loss.lines.empty());
  ASSERT_EQ(loss.dots.size(), 1u);
  // x: epoch 1 of [0, 2]; y: 0.5 in the middle of [0.44, 0.56].
  EXPECT_NEAR(loss.dots[0].first, 477, 0.051);
  EXPECT_NEAR(loss.dots[0].second, 164, 0.051);
  EXPECT_TRUE(contains(tick_texts(svg), "1"));
  expect_finite_coordinates(svg);
}

TEST(HtmlReport, AConstantCurveIsAFlatLineInTheMiddle) {
  TrainingReport report;
  report.curves = {{"loss", {2, 2, 2, 2}}};
  const std::string svg = loss_chart(render_html_report(report));
  const SeriesShape loss = series(svg, "loss");
  ASSERT_EQ(loss.lines.size(), 1u);
  expect_points(loss.lines[0], {{kLeft, 164}, {343.3, 164}, {610.7, 164}, {kRight, 164}});
  expect_finite_coordinates(svg);
}

TEST(HtmlReport, CurvesWithoutAnyFiniteValueDrawNothing) {
  TrainingReport report;
  report.curves = {{"loss", {kNaN, kNaN}}};
  const std::string svg = loss_chart(render_html_report(report));
  const SeriesShape loss = series(svg, "loss");
  EXPECT_EQ(loss.declared_points, 0);
  EXPECT_EQ(loss.point_count(), 0);
  expect_finite_coordinates(svg);
}

TEST(HtmlReport, LossSpanningMoreThanTwoDecadesIsOnALogScale) {
  TrainingReport report;
  report.curves = {{"loss", {1, 0.1, 0.001}}};
  const std::string svg = loss_chart(render_html_report(report));
  // From 0.001 (y = 294) to 1 (y = 34): 0.1 is a third of the way down.
  expect_points(series(svg, "loss").lines.at(0),
                {{kLeft, kTop}, {477, 34 + 260.0 / 3}, {kRight, kLossBottom}});
  EXPECT_NE(svg.find(">log scale</text>"), std::string::npos);
  EXPECT_EQ(tick_texts(svg),
            (std::vector<std::string>{"0.001", "0.01", "0.1", "1", "1", "2", "3"}));
}

TEST(HtmlReport, LossStaysLinearWithinTwoDecadesOrWithValuesAtZero) {
  TrainingReport within;
  within.curves = {{"loss", {1, 0.02}}};
  EXPECT_EQ(render_html_report(within).find("log scale"), std::string::npos);
  TrainingReport zero;
  zero.curves = {{"loss", {1, 1e-5, 0}}};
  EXPECT_EQ(render_html_report(zero).find("log scale"), std::string::npos);
}

TEST(HtmlReport, BestEpochIsMarkedOneBased) {
  TrainingReport report;
  report.curves = {{"loss", {1.0, 0.6, 0.2}}, {"val_loss", {0.8, 0.7, kNaN}}};
  report.best_epoch = 1;
  const std::string svg = loss_chart(render_html_report(report));
  const std::string marker = element(svg, "<g class=\"best-epoch\" data-epoch=\"2\">", "</g>");
  ASSERT_FALSE(marker.empty()) << svg;
  EXPECT_NE(marker.find(">best: epoch 2</text>"), std::string::npos);
  EXPECT_NE(marker.find("x1=\"477.0\" x2=\"477.0\""), std::string::npos);
  // A ring on both curves at epoch 2.
  EXPECT_EQ(count(marker, "<circle cx=\"477.0\""), 2);

  // On the last epoch, where val_loss has no value: one ring.
  report.best_epoch = 2;
  const std::string last = element(loss_chart(render_html_report(report)),
                                   "<g class=\"best-epoch\" data-epoch=\"3\">", "</g>");
  EXPECT_EQ(count(last, "<circle"), 1);
}

TEST(HtmlReport, BestEpochOutsideTheCurvesIsRefused) {
  TrainingReport report;
  report.curves = {{"loss", {1.0, 0.6, 0.2}}};
  report.best_epoch = 3;
  expect_throw_containing<ValueError>([&] { render_html_report(report); },
                                      "best_epoch 3 (0-based) is outside the 3 recorded epochs");
  report.best_epoch = -1;
  expect_throw_containing<ValueError>([&] { render_html_report(report); }, "best_epoch -1");
  report.curves.clear();
  report.best_epoch = 0;
  expect_throw_containing<ValueError>([&] { render_html_report(report); },
                                      "outside the 0 recorded epochs");
}

// ---- forecast charts -----------------------------------------------------------------------

TEST(HtmlReport, OneForecastChartPerTarget) {
  TrainingReport report;
  report.forecasts = {forecast("heart_rate", {60, 62, 64}, {61, 63, 65}, {kNaN, 60, 62}),
                      forecast("temp", {36.5, 36.6, 36.7, 36.8}, {36.5, 36.6, 36.6, 36.7})};
  const std::string html = render_html_report(report);
  EXPECT_EQ(count(html, "<svg class=\"forecast-chart\""), 2);
  EXPECT_NE(html.find("<h2>Forecasts on the validation part</h2>"), std::string::npos);
  EXPECT_NE(html.find("<figcaption>heart_rate</figcaption>"), std::string::npos);

  const std::string heart = forecast_chart(html, "heart_rate");
  EXPECT_EQ(series(heart, "actual").declared_points, 3);
  EXPECT_EQ(series(heart, "predicted").point_count(), 3);
  EXPECT_EQ(series(heart, "naive").point_count(), 2);
  // Values 60 to 65: ticks 1 apart, y from 60 (254) to 65 (34); rows 0 to 2 from 76 to 878.
  expect_points(series(heart, "actual").lines.at(0),
                {{kLeft, kForecastBottom}, {477, 166}, {kRight, 78}});

  const std::string temp = forecast_chart(html, "temp");
  EXPECT_EQ(series(temp, "actual").point_count(), 4);
  EXPECT_FALSE(series(temp, "naive").found);  // no naive values given
  EXPECT_EQ(temp.find("naive (last value)"), std::string::npos);
  EXPECT_NE(heart.find("naive (last value)"), std::string::npos);
}

TEST(HtmlReport, ForecastTicksShowTheLabels) {
  TrainingReport report;
  ReportForecast f =
      forecast("heart_rate", std::vector<double>(10, 1.0), std::vector<double>(10, 2.0));
  for (int i = 0; i < 10; ++i) f.labels.push_back("t" + std::to_string(i));
  f.x_name = "time";
  report.forecasts = {f};
  const std::string svg = forecast_chart(render_html_report(report), "heart_rate");
  const auto ticks = tick_texts(svg);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(contains(ticks, "t" + std::to_string(i))) << i;
  EXPECT_NE(svg.find(">time</text>"), std::string::npos);
}

TEST(HtmlReport, ForecastGapsAndAPointAlone) {
  TrainingReport report;
  report.forecasts = {forecast("x", {1, kNaN, 3, 4, kNaN, 6}, {1, 2, 3, 4, 5, 6})};
  const std::string svg = forecast_chart(render_html_report(report), "x");
  const SeriesShape actual = series(svg, "actual");
  EXPECT_EQ(actual.declared_points, 4);
  EXPECT_EQ(actual.dots.size(), 2u);   // rows 0 and 5
  ASSERT_EQ(actual.lines.size(), 1u);  // rows 2 and 3
  EXPECT_EQ(actual.lines[0].size(), 2u);
  EXPECT_EQ(series(svg, "predicted").lines.size(), 1u);
  expect_finite_coordinates(svg);
}

TEST(HtmlReport, ForecastOfOnePointOrNone) {
  TrainingReport report;
  report.forecasts = {forecast("one", {5}, {5}), forecast("none", {}, {})};
  const std::string html = render_html_report(report);
  const SeriesShape one = series(forecast_chart(html, "one"), "actual");
  ASSERT_EQ(one.dots.size(), 1u);
  EXPECT_NEAR(one.dots[0].first, 477, 0.051);
  EXPECT_EQ(series(forecast_chart(html, "none"), "actual").point_count(), 0);
  expect_finite_coordinates(html.substr(html.find("<section class=\"forecasts\">")));
}

TEST(HtmlReport, LongSeriesAreThinnedWithTheirSpikesKept) {
  const std::size_t n = 10000;
  std::vector<double> actual(n), predicted(n), naive(n);
  for (std::size_t i = 0; i < n; ++i) {
    actual[i] = std::sin(static_cast<double>(i) * 0.05);
    predicted[i] = std::sin(static_cast<double>(i) * 0.05 + 0.1);
    naive[i] = std::sin((static_cast<double>(i) - 1) * 0.05);
  }
  actual[5000] = 1000;  // y axis: -200 to 1000, so 1000 is drawn at the top, y = 34
  TrainingReport report;
  ReportForecast f = forecast("heart_rate", actual, predicted, naive);
  for (std::size_t i = 0; i < n; ++i) f.labels.push_back("2024-01-01 00:00:" + std::to_string(i));
  report.forecasts = {f};
  const std::string html = render_html_report(report);
  EXPECT_LT(html.size(), 500'000u);
  const SeriesShape shape = series(forecast_chart(html, "heart_rate"), "actual");
  EXPECT_EQ(shape.declared_points, 10000);
  ASSERT_EQ(shape.lines.size(), 1u);
  // At most 4 points per pixel column of the 802-wide plot.
  EXPECT_LE(shape.lines[0].size(), 4u * 802);
  EXPECT_GT(shape.lines[0].size(), 802u);
  double top = 1e9;
  for (const Point& p : shape.lines[0]) top = std::min(top, p.second);
  EXPECT_NEAR(top, kTop, 0.051);
  EXPECT_NEAR(shape.lines[0].front().first, kLeft, 0.051);
  EXPECT_NEAR(shape.lines[0].back().first, kRight, 0.051);
}

TEST(HtmlReport, ForecastLengthsMustAgree) {
  TrainingReport report;
  report.forecasts = {forecast("heart_rate", {1, 2, 3}, {1, 2})};
  expect_throw_containing<ValueError>(
      [&] { render_html_report(report); },
      "report: forecast of \"heart_rate\": predicted has 2 values, actual has 3");
  report.forecasts = {forecast("temp", {1, 2, 3}, {1, 2, 3}, {1})};
  expect_throw_containing<ValueError>([&] { render_html_report(report); },
                                      "forecast of \"temp\": naive has 1 values, actual has 3");
  report.forecasts = {forecast("temp", {1, 2, 3}, {1, 2, 3})};
  report.forecasts[0].labels = {"a", "b"};
  expect_throw_containing<ValueError>([&] { render_html_report(report); },
                                      "forecast of \"temp\": 2 labels for 3 values");
}

// ---- escaping ------------------------------------------------------------------------------

TEST(HtmlReport, EscapesEveryTextFromOutside) {
  const std::string evil = "<script>alert(\"x\")</script> & co";
  const std::string escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co";
  TrainingReport report;
  report.title = evil;
  report.facts = {{evil, evil}};
  report.curves = {{evil, {1, 2}}};
  report.metrics_table = {{evil}, {evil}};
  ReportForecast f = forecast(evil, {1, 2}, {1, 2});
  f.labels = {evil, evil};
  f.x_name = evil;
  report.forecasts = {f};
  const std::string html = render_html_report(report);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("\"x\""), std::string::npos);
  EXPECT_NE(html.find("<title>" + escaped + "</title>"), std::string::npos);
  EXPECT_NE(html.find("<td>" + escaped + "</td>"), std::string::npos);
  EXPECT_NE(html.find("<svg class=\"forecast-chart\" data-target=\"" + escaped + "\""),
            std::string::npos);
  EXPECT_NE(html.find("<g class=\"series\" data-name=\"" + escaped + "\""), std::string::npos);
  EXPECT_NE(html.find("<figcaption>" + escaped + "</figcaption>"), std::string::npos);
  // Every '&' in the page starts an entity.
  for (std::size_t at = html.find('&'); at != std::string::npos; at = html.find('&', at + 1)) {
    const std::string rest = html.substr(at, 6);
    EXPECT_TRUE(rest.rfind("&amp;", 0) == 0 || rest.rfind("&lt;", 0) == 0 ||
                rest.rfind("&gt;", 0) == 0 || rest.rfind("&quot;", 0) == 0 ||
                rest.rfind("&#39;", 0) == 0)
        << rest;
  }
}

TEST(HtmlReport, LongTickLabelsAreCutAtACharacter) {
  TrainingReport report;
  ReportForecast f = forecast("x", {1, 2}, {1, 2});
  // 25 characters of two bytes each: cut after 20, with an ellipsis.
  std::string long_label;
  for (int i = 0; i < 25; ++i) long_label += "\xC3\xA9";
  f.labels = {long_label, "b"};
  report.forecasts = {f};
  std::string cut;
  for (int i = 0; i < 20; ++i) cut += "\xC3\xA9";
  const auto ticks = tick_texts(forecast_chart(render_html_report(report), "x"));
  EXPECT_TRUE(contains(ticks, cut + "\xE2\x80\xA6"));
}

TEST(HtmlReport, MalformedUtf8BecomesReplacementCharacters) {
  TrainingReport report;
  report.title = "heart\xFFrate";
  EXPECT_NE(render_html_report(report).find("<h1>heart\xEF\xBF\xBDrate</h1>"), std::string::npos);
}

// ---- writing -------------------------------------------------------------------------------

TEST(HtmlReport, WritesThePageAndReplacesAnOldOne) {
  ScratchDir dir;
  const std::string path = dir.file("report.html");
  std::ofstream(path) << "old";
  TrainingReport report;
  report.title = "run";
  report.curves = {{"loss", {1, 0.5}}};
  write_html_report(path, report);
  EXPECT_EQ(read_file(path), render_html_report(report));
  EXPECT_EQ(dir.entry_count(), 1u);
}

TEST(HtmlReport, MissingDirectoryThrowsNamingThePathAndWritesNothing) {
  ScratchDir dir;
  const std::string path = dir.file("no/such/dir/report.html");
  expect_throw_containing<IoError>([&] { write_html_report(path, {}); },
                                   "cannot write '" + path + "'");
  EXPECT_EQ(dir.entry_count(), 0u);
}

TEST(HtmlReport, AReportThatCannotRenderLeavesTheOldFileAlone) {
  ScratchDir dir;
  const std::string path = dir.file("report.html");
  std::ofstream(path) << "old";
  TrainingReport report;
  report.forecasts = {forecast("heart_rate", {1, 2}, {1})};
  expect_throw_containing<ValueError>([&] { write_html_report(path, report); }, "heart_rate");
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(dir.entry_count(), 1u);
}

}  // namespace
}  // namespace nnkit
