#include "io/report_dom.h"

#include <cstdlib>
#include <sstream>

namespace nnkit::testing {

namespace {

// The value of attribute `name` in the tag that starts at `from`, or "" when it has none.
std::string attribute(const std::string& html, std::size_t from, const std::string& name) {
  const std::size_t tag_end = html.find('>', from);
  const std::string key = " " + name + "=\"";
  const std::size_t at = html.find(key, from);
  if (at == std::string::npos || at > tag_end) return "";
  const std::size_t begin = at + key.size();
  return html.substr(begin, html.find('"', begin) - begin);
}

}  // namespace

std::string element(const std::string& html, const std::string& open, const std::string& close) {
  const std::size_t begin = html.find(open);
  if (begin == std::string::npos) return "";
  const std::size_t end = html.find(close, begin);
  if (end == std::string::npos) return "";
  return html.substr(begin, end + close.size() - begin);
}

int count(const std::string& text, const std::string& part) {
  int n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos;
       at = text.find(part, at + part.size())) {
    ++n;
  }
  return n;
}

int SeriesShape::point_count() const {
  int n = static_cast<int>(dots.size());
  for (const auto& line : lines) n += static_cast<int>(line.size());
  return n;
}

SeriesShape series(const std::string& svg, const std::string& name) {
  SeriesShape shape;
  const std::string group = element(svg, "<g class=\"series\" data-name=\"" + name + "\"", "</g>");
  if (group.empty()) return shape;
  shape.found = true;
  const std::string declared = attribute(group, 0, "data-points");
  if (!declared.empty()) shape.declared_points = std::atoi(declared.c_str());
  for (std::size_t at = group.find("<polyline"); at != std::string::npos;
       at = group.find("<polyline", at + 1)) {
    std::string points = attribute(group, at, "points");
    for (char& c : points) {
      if (c == ',') c = ' ';
    }
    std::istringstream in(points);
    std::vector<Point> line;
    double x = 0, y = 0;
    while (in >> x >> y) line.emplace_back(x, y);
    shape.lines.push_back(line);
  }
  for (std::size_t at = group.find("<circle"); at != std::string::npos;
       at = group.find("<circle", at + 1)) {
    shape.dots.emplace_back(std::atof(attribute(group, at, "cx").c_str()),
                            std::atof(attribute(group, at, "cy").c_str()));
  }
  return shape;
}

}  // namespace nnkit::testing
