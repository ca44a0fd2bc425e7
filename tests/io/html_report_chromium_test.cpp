// The report as a browser sees it: Debian's chromium, headless, parses the page written by
// write_html_report() (--dump-dom) and paints it (--screenshot). This checks what the unit
// tests cannot: that a real HTML parser puts every chart and line where the page says, that
// nothing in a column name turns into markup, and that the charts are drawn.
//
// chromium comes from scripts/setup; without it these tests fail and say so, unless
// NNKIT_SKIP_CHROMIUM=1 (they are skipped then). NNKIT_CHROMIUM=/path/to/chromium picks
// another binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "io/report_dom.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/html_report.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::count;
using testing::element;
using testing::ScratchDir;
using testing::series;

// Chromium starts in about a second here; a loaded 2-core machine can take much longer.
constexpr int kTimeoutSeconds = 60;
constexpr int kWindowWidth = 1000, kWindowHeight = 2000;
const std::string kEvil = "<script>alert(1)</script> & co";

// Single-quoted for /bin/sh.
std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// $NNKIT_CHROMIUM, else `chromium` on the PATH; nullopt when there is none.
std::optional<std::string> find_chromium() {
  if (const char* chosen = std::getenv("NNKIT_CHROMIUM"); chosen != nullptr && *chosen != '\0') {
    return std::string(chosen);
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/chromium";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

// The test's report: two curves (one with a gap), a best epoch, two forecasts, one of them
// named like markup.
TrainingReport sample_report() {
  TrainingReport report;
  report.title = "nnkit train: " + kEvil;
  report.facts = {{"model", "LSTM(128) \xE2\x86\x92 Dense(1)"}, {"epochs", "12"}};
  ReportCurve loss{"loss", {}}, val_loss{"val_loss", {}};
  for (int epoch = 0; epoch < 12; ++epoch) {
    loss.values.push_back(0.9 * std::exp(-epoch / 3.0) + 0.05);
    val_loss.values.push_back(0.8 * std::exp(-epoch / 4.0) + 0.1);
  }
  val_loss.values[4] = std::numeric_limits<double>::quiet_NaN();
  report.curves = {loss, val_loss};
  report.best_epoch = 8;
  report.metrics_table = {{"target", "RMSE", "naive RMSE"}, {"heart_rate", "11.89", "13.97"}};

  ReportForecast heart;
  heart.target = "heart_rate";
  heart.x_name = "time";
  for (int i = 0; i < 300; ++i) {
    heart.labels.push_back("2024-01-" + std::to_string(1 + i / 24) + " " + std::to_string(i % 24) +
                           ":00");
    heart.actual.push_back(70 + 12 * std::sin(i * 2 * M_PI / 24));
    heart.predicted.push_back(70 + 11 * std::sin((i - 0.5) * 2 * M_PI / 24));
    heart.naive.push_back(i == 0 ? std::numeric_limits<double>::quiet_NaN() : heart.actual[i - 1]);
  }
  ReportForecast evil;
  evil.target = kEvil;
  evil.x_name = "row";
  for (int i = 0; i < 20; ++i) {
    evil.actual.push_back(36.5 + 0.02 * i);
    evil.predicted.push_back(36.52 + 0.02 * i);
  }
  report.forecasts = {heart, evil};
  return report;
}

class HtmlReportChromium : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* skip = std::getenv("NNKIT_SKIP_CHROMIUM");
    if (skip != nullptr && std::string(skip) == "1") GTEST_SKIP() << "NNKIT_SKIP_CHROMIUM=1";
    const auto found = find_chromium();
    if (!found) {
      FAIL() << "chromium is not installed: run scripts/setup (it installs Debian's chromium), "
                "or set NNKIT_SKIP_CHROMIUM=1 to skip the browser tests";
    }
    chromium_ = *found;
    report_path_ = dir_.file("report.html");
    write_html_report(report_path_, sample_report());
  }

  // Runs headless chromium on the report with `args`; its stdout, or a test failure naming
  // the command, its status and the end of its stderr.
  std::optional<std::string> run(const std::vector<std::string>& args) const {
    // Its own home and profile in the scratch directory: chromium writes there. --no-sandbox:
    // the sandbox cannot start as root in a container; --disable-dev-shm-usage: Docker's
    // /dev/shm is 64 MB by default.
    std::string command = "env HOME=" + quote(dir_.path().string()) +
                          " XDG_CONFIG_HOME=" + quote(dir_.file("config")) +
                          " XDG_CACHE_HOME=" + quote(dir_.file("cache")) + " timeout -k 5 " +
                          std::to_string(kTimeoutSeconds) + " " + quote(chromium_) +
                          " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage"
                          " --no-first-run --disable-extensions --user-data-dir=" +
                          quote(dir_.file("profile"));
    for (const std::string& arg : args) command += " " + quote(arg);
    command += " " + quote("file://" + report_path_);
    const std::string out = dir_.file("chromium.out"), err = dir_.file("chromium.err");
    const std::string shell = command + " </dev/null >" + quote(out) + " 2>" + quote(err);
    const int raw = std::system(shell.c_str());
    const int status = raw != -1 && WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    if (status == 0) return read_file(out);
    std::string stderr_text = read_file(err);
    if (stderr_text.size() > 3000)
      stderr_text = "..." + stderr_text.substr(stderr_text.size() - 3000);
    if (status == 124 || status == 137) {
      ADD_FAILURE() << "chromium did not finish within " << kTimeoutSeconds
                    << " s (an overloaded machine?): " << command << "\nstderr: " << stderr_text;
    } else {
      ADD_FAILURE() << "chromium failed with status " << status << ": " << command
                    << "\nstderr: " << stderr_text;
    }
    return std::nullopt;
  }

  ScratchDir dir_;
  std::string chromium_, report_path_;
};

TEST_F(HtmlReportChromium, ParsesEveryChartAndLineWithItsPoints) {
  const auto dom = run({"--dump-dom"});
  ASSERT_TRUE(dom);
  ASSERT_NE(dom->find("<svg class=\"loss-chart\""), std::string::npos) << *dom;
  EXPECT_EQ(count(*dom, "<svg "), 3);
  EXPECT_EQ(count(*dom, "<svg class=\"forecast-chart\""), 2);

  const std::string loss_chart = element(*dom, "<svg class=\"loss-chart\"", "</svg>");
  const auto loss = series(loss_chart, "loss");
  EXPECT_EQ(loss.lines.size(), 1u);
  EXPECT_EQ(loss.point_count(), 12);
  const auto val_loss = series(loss_chart, "val_loss");
  ASSERT_EQ(val_loss.lines.size(), 2u);  // epochs 1-4 and 6-12 around the NaN
  EXPECT_EQ(val_loss.lines[0].size(), 4u);
  EXPECT_EQ(val_loss.lines[1].size(), 7u);
  EXPECT_NE(loss_chart.find("<g class=\"best-epoch\" data-epoch=\"9\">"), std::string::npos);

  const std::string heart =
      element(*dom, "<svg class=\"forecast-chart\" data-target=\"heart_rate\"", "</svg>");
  ASSERT_FALSE(heart.empty());
  EXPECT_EQ(series(heart, "actual").point_count(), 300);
  EXPECT_EQ(series(heart, "predicted").point_count(), 300);
  EXPECT_EQ(series(heart, "naive").point_count(), 299);

  // The name made of markup stayed text: no script element, the text shown as written.
  EXPECT_EQ(dom->find("<script"), std::string::npos);
  EXPECT_NE(dom->find("<h1>nnkit train: &lt;script&gt;alert(1)&lt;/script&gt; &amp; co</h1>"),
            std::string::npos);
  // The last figure is the one named like markup: caption as text, chart whole.
  const std::string last_figure =
      element(dom->substr(dom->rfind("<figure")), "<figure", "</figure>");
  EXPECT_NE(
      last_figure.find("<figcaption>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</figcaption>"),
      std::string::npos)
      << last_figure;
  EXPECT_EQ(series(last_figure, "actual").point_count(), 20);
  EXPECT_EQ(series(last_figure, "predicted").point_count(), 20);
}

// ---- the screenshot ------------------------------------------------------------------------

struct Image {
  uint32_t width = 0, height = 0;
  int channels = 0;             // 3 (RGB) or 4 (RGBA)
  std::vector<uint8_t> pixels;  // rows top to bottom, no padding
};

uint32_t big_endian(const std::string& bytes, std::size_t at) {
  uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

// An 8-bit RGB or RGBA, non-interlaced PNG, as Chromium's screenshots are; an error message
// for anything else. By hand: zlib does the inflating, and only this test needs the rest.
std::optional<Image> decode_png(const std::string& bytes, std::string& error) {
  if (bytes.compare(0, 8, "\x89PNG\r\n\x1A\n") != 0) {
    error = "not a PNG file";
    return std::nullopt;
  }
  Image image;
  std::string compressed;
  for (std::size_t at = 8; at + 8 <= bytes.size();) {
    const uint32_t length = big_endian(bytes, at);
    const std::string type = bytes.substr(at + 4, 4);
    if (at + 12 + length > bytes.size()) break;
    const std::string data = bytes.substr(at + 8, length);
    if (type == "IHDR" && length == 13) {
      image.width = big_endian(data, 0);
      image.height = big_endian(data, 4);
      const int depth = static_cast<uint8_t>(data[8]), color = static_cast<uint8_t>(data[9]);
      const int interlace = static_cast<uint8_t>(data[12]);
      if (depth != 8 || (color != 2 && color != 6) || interlace != 0) {
        error = "PNG of bit depth " + std::to_string(depth) + ", colour type " +
                std::to_string(color) + ", interlace " + std::to_string(interlace) +
                ": this test reads only 8-bit RGB or RGBA, not interlaced";
        return std::nullopt;
      }
      image.channels = color == 2 ? 3 : 4;
    } else if (type == "IDAT") {
      compressed += data;
    } else if (type == "IEND") {
      break;
    }
    at += 12 + length;
  }
  if (image.channels == 0 || image.width == 0 || image.height == 0) {
    error = "PNG without a usable IHDR";
    return std::nullopt;
  }
  const std::size_t stride = std::size_t{image.width} * static_cast<std::size_t>(image.channels);
  std::vector<uint8_t> raw(std::size_t{image.height} * (stride + 1));
  uLongf raw_size = raw.size();
  if (uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(compressed.data()),
                 compressed.size()) != Z_OK ||
      raw_size != raw.size()) {
    error = "PNG image data does not inflate to " + std::to_string(raw.size()) + " bytes";
    return std::nullopt;
  }
  // Undo each row's filter (PNG specification, section 9).
  const std::size_t bpp = static_cast<std::size_t>(image.channels);
  image.pixels.assign(std::size_t{image.height} * stride, 0);
  for (std::size_t y = 0; y < image.height; ++y) {
    const uint8_t filter = raw[y * (stride + 1)];
    const uint8_t* in = &raw[y * (stride + 1) + 1];
    uint8_t* row = &image.pixels[y * stride];
    const uint8_t* above = y > 0 ? &image.pixels[(y - 1) * stride] : nullptr;
    for (std::size_t x = 0; x < stride; ++x) {
      const int a = x >= bpp ? row[x - bpp] : 0;
      const int b = above ? above[x] : 0;
      const int c = above && x >= bpp ? above[x - bpp] : 0;
      int predicted = 0;
      switch (filter) {
        case 0:
          predicted = 0;
          break;
        case 1:
          predicted = a;
          break;
        case 2:
          predicted = b;
          break;
        case 3:
          predicted = (a + b) / 2;
          break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          error = "PNG row " + std::to_string(y) + " has unknown filter " + std::to_string(filter);
          return std::nullopt;
      }
      row[x] = static_cast<uint8_t>(in[x] + predicted);
    }
  }
  return image;
}

// Pixels within `tolerance` of the colour in every channel.
int pixels_near(const Image& image, int r, int g, int b, int tolerance = 24) {
  int n = 0;
  for (std::size_t i = 0; i + 2 < image.pixels.size();
       i += static_cast<std::size_t>(image.channels)) {
    if (std::abs(image.pixels[i] - r) <= tolerance &&
        std::abs(image.pixels[i + 1] - g) <= tolerance &&
        std::abs(image.pixels[i + 2] - b) <= tolerance) {
      ++n;
    }
  }
  return n;
}

TEST_F(HtmlReportChromium, PaintsTheCharts) {
  const std::string png_path = dir_.file("report.png");
  ASSERT_TRUE(
      run({"--hide-scrollbars",
           "--window-size=" + std::to_string(kWindowWidth) + "," + std::to_string(kWindowHeight),
           "--screenshot=" + png_path}));
  ASSERT_TRUE(std::filesystem::exists(png_path)) << "chromium wrote no screenshot";
  std::string error;
  const auto image = decode_png(read_file(png_path), error);
  ASSERT_TRUE(image) << png_path << ": " << error;
  EXPECT_EQ(image->width, static_cast<uint32_t>(kWindowWidth));
  EXPECT_EQ(image->height, static_cast<uint32_t>(kWindowHeight));
  const int total = static_cast<int>(image->width * image->height);
  // The page's grey background and the sections' white both show, and neither fills it.
  const int background = pixels_near(*image, 0xF5, 0xF6, 0xF8, 2);
  const int white = pixels_near(*image, 0xFF, 0xFF, 0xFF, 0);
  EXPECT_GT(background, total / 20);
  EXPECT_GT(white, total / 5);
  EXPECT_LT(background + white, total * 99 / 100);
  // The lines were painted: val_loss in orange (only there), loss and the predictions in blue,
  // each a couple of pixels wide across most of an 800-pixel plot.
  EXPECT_GT(pixels_near(*image, 0xFF, 0x7F, 0x0E), 400);
  EXPECT_GT(pixels_near(*image, 0x1F, 0x77, 0xB4), 1500);
}

}  // namespace
}  // namespace nnkit
