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

}  // namespace nnkit::detail
