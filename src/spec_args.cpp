#include "spec_args.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/error.h"

namespace nnkit::detail {

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

std::string spec_type(const std::string& what, const nlohmann::json& spec) {
  if (spec.is_string()) return spec.get<std::string>();
  if (spec.is_object() && spec.contains("type") && spec.at("type").is_string()) {
    return spec.at("type").get<std::string>();
  }
  throw ValueError(fmt::format("{}: expected a name or an object with a string \"type\", got {}",
                               what, spec.dump()));
}

void check_arguments(const std::string& who, const nlohmann::json& spec,
                     const std::vector<std::string>& allowed) {
  if (!spec.is_object()) return;
  for (const auto& item : spec.items()) {
    const std::string& key = item.key();
    if (key == "type") continue;
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw ValueError(fmt::format("{}: unknown argument '{}'; expected {}", who, key,
                                   allowed.empty()
                                       ? std::string("no arguments")
                                       : fmt::format("one of {}", fmt::join(allowed, ", "))));
    }
  }
}

namespace {

const nlohmann::json* find_argument(const nlohmann::json& spec, const char* key) {
  if (!spec.is_object()) return nullptr;
  auto it = spec.find(key);
  return it == spec.end() ? nullptr : &*it;
}

}  // namespace

float get_float(const std::string& who, const nlohmann::json& spec, const char* key,
                float fallback) {
  const nlohmann::json* value = find_argument(spec, key);
  if (value == nullptr) return fallback;
  if (!value->is_number()) {
    throw ValueError(
        fmt::format("{}: argument '{}' must be a number, got {}", who, key, value->dump()));
  }
  return value->get<float>();
}

int64_t get_int(const std::string& who, const nlohmann::json& spec, const char* key,
                int64_t fallback) {
  const nlohmann::json* value = find_argument(spec, key);
  if (value == nullptr) return fallback;
  if (value->is_number_integer()) return value->get<int64_t>();
  // 100.0 is an integer written as a float (Python's json writes it so).
  if (value->is_number_float()) {
    double d = value->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
      return static_cast<int64_t>(d);
    }
  }
  throw ValueError(
      fmt::format("{}: argument '{}' must be an integer, got {}", who, key, value->dump()));
}

bool get_bool(const std::string& who, const nlohmann::json& spec, const char* key, bool fallback) {
  const nlohmann::json* value = find_argument(spec, key);
  if (value == nullptr) return fallback;
  if (!value->is_boolean()) {
    throw ValueError(
        fmt::format("{}: argument '{}' must be true or false, got {}", who, key, value->dump()));
  }
  return value->get<bool>();
}

double json_float(float value) {
  if (!std::isfinite(value)) return value;
  return std::stod(fmt::format("{}", value));
}

std::optional<float> get_optional_float(const std::string& who, const nlohmann::json& spec,
                                        const char* key) {
  const nlohmann::json* value = find_argument(spec, key);
  if (value == nullptr || value->is_null()) return std::nullopt;
  return get_float(who, spec, key, 0.0f);
}

}  // namespace nnkit::detail
