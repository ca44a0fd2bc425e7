// Reading the report's charts back out of HTML text, for the report's tests: both the page as
// nnkit writes it and the DOM as Chromium serialises it (which writes <polyline ...></polyline>
// for <polyline .../>, keeps attribute order and re-escapes only what it must).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace nnkit::testing {

using Point = std::pair<double, double>;

// The first element of `html` that starts with `open` (e.g. `<svg class="loss-chart"`), up to
// and including the first `close` after it (e.g. `</svg>`); "" when there is none.
std::string element(const std::string& html, const std::string& open, const std::string& close);

// Non-overlapping occurrences of `part` in `text`.
int count(const std::string& text, const std::string& part);

// What a chart draws for one series: <g class="series" data-name="NAME" ...> ... </g>.
struct SeriesShape {
  bool found = false;
  int declared_points = -1;               // its data-points attribute
  std::vector<std::vector<Point>> lines;  // one per <polyline>, its points in order
  std::vector<Point> dots;                // one per <circle>: cx, cy
  int point_count() const;                // every point of the lines and dots
};
SeriesShape series(const std::string& svg, const std::string& name);

}  // namespace nnkit::testing
