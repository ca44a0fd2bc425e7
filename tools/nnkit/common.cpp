#include <sys/stat.h>

#include <filesystem>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/data/idx.h"
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

void add_data_options(CLI::App* cmd, DataArgs& args, bool targets) {
  auto* x =
      cmd->add_option("--x", args.x, "Inputs, .npy (float32 or float64)")->check(CLI::ExistingFile);
  CLI::Option* y = nullptr;
  if (targets) y = cmd->add_option("--y", args.y, "Targets, .npy")->check(CLI::ExistingFile);
  auto* idx = cmd->add_option("--idx", args.idx,
                              "Images instead of --x: IDX, gzip or plain, [N, H, W] uint8 "
                              "loaded as [N, 1, H, W] in [0, 1]")
                  ->check(CLI::ExistingFile);
  x->excludes(idx);
  if (!targets) return;
  auto* labels = cmd->add_option("--labels", args.labels,
                                 "Class labels for --idx: IDX, gzip or plain, [N] integers")
                     ->check(CLI::ExistingFile);
  // Each pair goes together and excludes the other: CLI11 names the offending flags.
  x->needs(y);
  y->needs(x);
  idx->needs(labels);
  labels->needs(idx);
  x->excludes(labels);
  y->excludes(idx);
  y->excludes(labels);
}

void require_data(const DataArgs& args, bool targets) {
  if (args.x.empty() && args.idx.empty()) {
    throw CLI::RequiredError(targets ? "--x/--y or --idx/--labels" : "--x or --idx");
  }
}

Data read_data(const DataArgs& args) {
  Data data;
  if (args.idx.empty()) {
    data.x = read_array("--x", args.x);
    if (!args.y.empty()) data.y = read_array("--y", args.y);
    return data;
  }
  auto read = [](const std::string& flag, const std::string& path,
                 Tensor (*reader)(const std::string&)) {
    try {
      return reader(path);
    } catch (const Error& e) {
      throw FormatError(fmt::format("{}: {}", flag, e.what()));
    }
  };
  data.x = read("--idx", args.idx, read_idx_images);
  if (args.labels.empty()) return data;
  data.y = read("--labels", args.labels, read_idx_labels);
  if (data.x.dim(0) != data.y.dim(0)) {
    throw FormatError(fmt::format("--idx {} holds {} images but --labels {} holds {} labels",
                                  args.idx, data.x.dim(0), args.labels, data.y.dim(0)));
  }
  return data;
}

}  // namespace nnkit::cli
