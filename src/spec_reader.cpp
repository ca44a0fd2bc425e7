#include "spec_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit::detail {

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string spec_type(const std::string& what, const nlohmann::json& spec) {
  if (spec.is_string()) return spec.get<std::string>();
  if (spec.is_object() && spec.contains("type") && spec.at("type").is_string()) {
    return spec.at("type").get<std::string>();
  }
  throw ValueError(fmt::format("{}: expected a name or an object with a string \"type\", got {}",
                               what, spec.dump()));
}

std::string to_lower(const std::string& name) {
  std::string out = name;
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::string to_snake_case(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    unsigned char ch = static_cast<unsigned char>(name[i]);
    if (std::isupper(ch)) {
      // A word starts at an upper-case letter after a lower-case one or a digit, or at the
      // last capital of an acronym followed by lower case.
      bool after_lower = i > 0 && (std::islower(static_cast<unsigned char>(name[i - 1])) ||
                                   std::isdigit(static_cast<unsigned char>(name[i - 1])));
      bool acronym_end = i > 0 && std::isupper(static_cast<unsigned char>(name[i - 1])) &&
                         i + 1 < name.size() &&
                         std::islower(static_cast<unsigned char>(name[i + 1]));
      if (after_lower || acronym_end) out += '_';
      out += static_cast<char>(std::tolower(ch));
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  // A third of the word's length, at least 1, at most 3: 'unit' finds 'units', 'foo' nothing.
  std::size_t best_distance = std::clamp<std::size_t>(word.size() / 3, 1, 3) + 1;
  for (const std::string& c : candidates) {
    std::size_t d = edit_distance(to_lower(word), to_lower(c));
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

double json_float(float value) {
  if (!std::isfinite(value)) return value;
  // fmt prints the shortest decimal that reads back as the same float.
  return std::stod(fmt::format("{}", value));
}

SpecReader::SpecReader(std::string who, const nlohmann::json& spec)
    : who_(std::move(who)), spec_(spec), known_{"type"} {
  if (!spec_.is_object()) {
    throw ValueError(
        fmt::format("{}: expected a JSON object of arguments, got {}", who_, spec_.dump()));
  }
}

const nlohmann::json* SpecReader::find(const std::string& key) {
  known_.push_back(key);
  auto it = spec_.find(key);
  return it == spec_.end() ? nullptr : &*it;
}

void SpecReader::type_error(const std::string& key, const char* expected) const {
  throw ValueError(fmt::format("{}: argument '{}' must be {}, got {}", who_, key, expected,
                               spec_.at(key).dump()));
}

int64_t SpecReader::to_int(const std::string& key, const nlohmann::json& value,
                           const char* expected) const {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      return static_cast<int64_t>(d);
    }
  }
  type_error(key, expected);
}

void SpecReader::require(const std::string& key) { required_.push_back(key); }

int64_t SpecReader::get_int(const std::string& key, int64_t fallback) {
  return get_optional_int(key).value_or(fallback);
}

std::optional<int64_t> SpecReader::get_optional_int(const std::string& key) {
  const nlohmann::json* v = find(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  return to_int(key, *v, "an integer");
}

float SpecReader::get_float(const std::string& key, float fallback) {
  return get_optional_float(key).value_or(fallback);
}

std::optional<float> SpecReader::get_optional_float(const std::string& key) {
  const nlohmann::json* v = find(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_number()) type_error(key, "a number");
  return v->get<float>();
}

bool SpecReader::get_bool(const std::string& key, bool fallback) {
  const nlohmann::json* v = find(key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) type_error(key, "true or false");
  return v->get<bool>();
}

std::string SpecReader::get_string(const std::string& key, const std::string& fallback) {
  const nlohmann::json* v = find(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_string()) type_error(key, "a string");
  return v->get<std::string>();
}

std::vector<int64_t> SpecReader::get_int_list(const std::string& key,
                                              const std::vector<int64_t>& fallback) {
  const nlohmann::json* v = find(key);
  if (v == nullptr || v->is_null()) return fallback;
  if (!v->is_array()) type_error(key, "a list of integers");
  std::vector<int64_t> out;
  for (const auto& item : *v) out.push_back(to_int(key, item, "a list of integers"));
  return out;
}

std::optional<std::array<int64_t, 2>> SpecReader::get_optional_int_pair(const std::string& key) {
  static constexpr char kExpected[] = "an integer or a list of two integers [height, width]";
  const nlohmann::json* v = find(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_array()) {
    const int64_t n = to_int(key, *v, kExpected);
    return std::array<int64_t, 2>{n, n};
  }
  if (v->size() != 1 && v->size() != 2) type_error(key, kExpected);
  const int64_t first = to_int(key, v->front(), kExpected);
  return std::array<int64_t, 2>{first, to_int(key, v->back(), kExpected)};
}

Initializer SpecReader::get_initializer(const std::string& key, const Initializer& fallback) {
  const nlohmann::json* v = find(key);
  if (v == nullptr) return fallback;
  try {
    return parse_initializer(*v);
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: argument '{}': {}", who_, key, e.what()));
  }
}

const nlohmann::json* SpecReader::get_object(const std::string& key) {
  const nlohmann::json* v = find(key);
  if (v != nullptr && !v->is_object()) type_error(key, "a JSON object");
  return v;
}

void SpecReader::finish() const {
  for (const auto& [key, value] : spec_.items()) {
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    std::vector<std::string> valid;
    for (const std::string& k : known_) {
      if (k != "type" && std::find(valid.begin(), valid.end(), k) == valid.end()) {
        valid.push_back(k);
      }
    }
    std::string hint = closest_match(key, valid);
    std::string list;
    for (const std::string& k : valid) list += (list.empty() ? "" : ", ") + k;
    if (list.empty()) list = "none";
    if (hint.empty()) {
      throw ValueError(
          fmt::format("{}: unknown argument '{}'; valid arguments: {}", who_, key, list));
    }
    throw ValueError(
        fmt::format("{}: unknown argument '{}'; did you mean '{}'? Valid arguments: {}", who_, key,
                    hint, list));
  }
  for (const std::string& key : required_) {
    if (!spec_.contains(key)) {
      throw ValueError(fmt::format("{}: missing required argument '{}'", who_, key));
    }
  }
}

}  // namespace nnkit::detail
