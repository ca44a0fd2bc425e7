#include <sys/stat.h>

#include <filesystem>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/data/npy.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"

namespace nnkit::cli {

namespace {
CLI::Validator number_check(const std::string& description, bool (*ok)(double)) {
  return CLI::Validator(
      [description, ok](std::string& text) -> std::string {
        try {
          std::size_t used = 0;
          double v = std::stod(text, &used);
          if (used == text.size() && ok(v)) return "";
        } catch (const std::exception&) {
        }
        return "must be " + description + ", got '" + text + "'";
      },
      description);
}
}  // namespace

CLI::Validator positive() {
  return number_check("a number > 0", [](double v) { return v > 0; });
}
CLI::Validator non_negative() {
  return number_check("a number >= 0", [](double v) { return v >= 0; });
}
CLI::Validator fraction() {
  return number_check("a fraction in [0, 1)", [](double v) { return v >= 0 && v < 1; });
}

nlohmann::json read_spec_file(const std::string& path) {
  std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset of the error; turn it into a line and column.
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    throw FormatError(fmt::format("{}:{}:{}: invalid JSON", path, line, column));
  }
}

void check_output_path(const std::string& flag, const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw IoError(fmt::format("{} {}: directory '{}' does not exist", flag, path, dir.string()));
  }
  if (fs::is_directory(p, ec)) throw IoError(fmt::format("{} {}: is a directory", flag, path));
}

Tensor read_array(const std::string& flag, const std::string& path) {
  try {
    return read_npy(path);
  } catch (const Error& e) {
    throw FormatError(fmt::format("{}: {}", flag, e.what()));
  }
}

}  // namespace nnkit::cli
