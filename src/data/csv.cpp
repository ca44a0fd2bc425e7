#include "nnkit/data/csv.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"

namespace nnkit {

namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
// A cell longer than this is cut in messages (a mutated file can hold megabytes in one field).
constexpr std::size_t kMaxShownBytes = 40;
// Column lists in messages stop after this many names.
constexpr std::size_t kMaxListedColumns = 20;

// Cells read as missing besides every spelling of NaN that from_chars reads: the brief's
// markers and pandas' read_csv defaults, so that files pandas writes or reads load the same.
constexpr std::array<std::string_view, 12> kMissingMarkers = {
    "", "NA", "N/A", "n/a", "na", "null", "NULL", "None", "<NA>", "#N/A", "#NA", "#N/A N/A"};

// Quoted, with control bytes escaped and long text cut, for one-line messages.
std::string shown(std::string_view text) {
  std::string out = "\"";
  const std::size_t n = std::min(text.size(), kMaxShownBytes);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02X}", c);
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > n) out += "...";
  out += '"';
  return out;
}

std::string column_list(const std::vector<std::string>& names) {
  std::string out;
  const std::size_t n = std::min(names.size(), kMaxListedColumns);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += ", ";
    out += shown(names[i]);
  }
  if (names.size() > n) out += fmt::format(", ... ({} in all)", names.size());
  return out;
}

std::string separator_name(char separator) {
  if (separator == '\t') return "tab";
  if (static_cast<unsigned char>(separator) < 0x20 || separator == 0x7F) {
    return fmt::format("\\x{:02X}", static_cast<unsigned char>(separator));
  }
  return fmt::format("'{}'", separator);
}

std::string_view trim(std::string_view s) {
  const std::size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

enum class Cell { kNumber, kMissing, kNotNumber, kNotFinite, kOutOfRange };

// For a number that from_chars finds beyond even double's range: whether it is tiny (it
// rounds to zero) rather than huge, from its decimal order of magnitude.
bool is_tiny(std::string_view number) {
  if (!number.empty() && number[0] == '-') number.remove_prefix(1);
  const std::size_t e = number.find_first_of("eE");
  const std::string_view mantissa = number.substr(0, e);
  const std::size_t point = std::min(mantissa.find('.'), mantissa.size());
  const std::size_t first = mantissa.find_first_of("123456789");
  if (first == std::string_view::npos) return true;  // zero
  // 10^order <= |mantissa| < 10^(order + 1)
  int64_t order = first < point ? static_cast<int64_t>(point - first) - 1
                                : -static_cast<int64_t>(first - point);
  if (e != std::string_view::npos) {
    std::string_view exponent = number.substr(e + 1);
    const bool negative = !exponent.empty() && exponent[0] == '-';
    if (!exponent.empty() && (exponent[0] == '-' || exponent[0] == '+')) exponent.remove_prefix(1);
    int64_t power = 0;
    const auto error =
        std::from_chars(exponent.data(), exponent.data() + exponent.size(), power).ec;
    // An exponent beyond 2^50 dwarfs any mantissa a file can hold (and order + power cannot
    // overflow).
    constexpr int64_t kHugePower = int64_t{1} << 50;
    if (error == std::errc::result_out_of_range || power > kHugePower) return negative;
    order += negative ? -power : power;
  }
  return order < 0;
}

// Reads a trimmed cell; `value` is set for kNumber only.
Cell classify(std::string_view text, float& value) {
  std::string_view digits = text;
  // from_chars takes '-' but not '+'; "+-1" and "++1" stay refused.
  if (digits.size() > 1 && digits[0] == '+' && digits[1] != '-' && digits[1] != '+') {
    digits.remove_prefix(1);
  }
  const char* first = digits.data();
  const char* last = first + digits.size();
  float f = 0.0f;
  const auto [end, error] = std::from_chars(first, last, f);
  if (end != last || (error != std::errc() && error != std::errc::result_out_of_range)) {
    return std::find(kMissingMarkers.begin(), kMissingMarkers.end(), text) != kMissingMarkers.end()
               ? Cell::kMissing
               : Cell::kNotNumber;
  }
  if (error == std::errc::result_out_of_range) {
    // Beyond float32 one way or the other: values too small for it round to it (to 0 or a
    // subnormal), as a float32 cast of the double would; too large ones are refused. The
    // double parse reads the same characters as the float one.
    double d = 0.0;
    const auto error64 = std::from_chars(first, last, d).ec;
    if (error64 == std::errc() && std::fabs(d) <= std::numeric_limits<float>::max()) {
      value = static_cast<float>(d);
      return Cell::kNumber;
    }
    if (error64 == std::errc::result_out_of_range && is_tiny(digits)) {
      value = digits[0] == '-' ? -0.0f : 0.0f;
      return Cell::kNumber;
    }
    return Cell::kOutOfRange;
  }
  if (std::isnan(f)) return Cell::kMissing;
  if (std::isinf(f)) return Cell::kNotFinite;
  value = f;
  return Cell::kNumber;
}

// "1,5" read with another separator: likely a decimal comma.
bool looks_like_decimal_comma(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  const std::size_t comma = text.find(',');
  if (comma == std::string_view::npos || comma == 0 || comma + 1 == text.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i != comma && (text[i] < '0' || text[i] > '9')) return false;
  }
  return true;
}

// The most frequent of ',', ';' and tab outside quotes on the first line that is not blank
// (',' on a tie or when none occurs).
char detect_separator(std::string_view text) {
  constexpr std::array<char, 3> kCandidates = {',', ';', '\t'};
  std::array<std::size_t, 3> counts = {};
  bool quoted = false;
  bool content = false;
  for (const char c : text) {
    if (quoted) {
      quoted = c != '"';  // a doubled quote closes and reopens: the same as staying inside
      continue;
    }
    if (c == '\r' || c == '\n') {
      if (content) break;
      continue;
    }
    if (c == '"') quoted = true;
    if (c != ' ') content = true;
    for (std::size_t i = 0; i < kCandidates.size(); ++i) counts[i] += c == kCandidates[i];
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < counts.size(); ++i) {
    if (counts[i] > counts[best]) best = i;
  }
  return kCandidates[best];
}

// One record: the fields' text, unquoted and unescaped but not trimmed. The strings are
// reused from record to record, so that reading allocates only for the longest fields.
struct Record {
  std::vector<std::string> fields;
  std::size_t count = 0;
  int64_t line = 0;  // where the record starts

  std::string_view field(std::size_t i) const { return fields[i]; }
};

// RFC 4180 records, one linear pass over the text.
class Tokenizer {
 public:
  Tokenizer(std::string_view text, const std::string& name, char separator)
      : text_(text), name_(name), separator_(separator) {}

  // Skips blank lines, then reads the next record. Returns false at the end of the text.
  // `header` names the columns in messages (none while reading the header itself).
  bool next(Record& record, const std::vector<std::string>* header) {
    skip_blank_lines();
    if (pos_ >= text_.size()) return false;
    record.count = 0;
    record.line = line_;
    for (;;) {
      if (record.count == record.fields.size()) record.fields.emplace_back();
      read_field(record.fields[record.count], record.count, header);
      ++record.count;
      if (pos_ < text_.size() && text_[pos_] == separator_) {
        ++pos_;
        continue;
      }
      consume_line_end();
      return true;
    }
  }

 private:
  bool is_space(char c) const { return c == ' ' || (c == '\t' && separator_ != '\t'); }

  // Consumes "\n", "\r\n" or a lone "\r" at pos_, if there is one.
  void consume_line_end() {
    if (pos_ >= text_.size()) return;
    if (text_[pos_] == '\r') {
      ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      ++line_;
    } else if (text_[pos_] == '\n') {
      ++pos_;
      ++line_;
    }
  }

  void skip_blank_lines() {
    while (pos_ < text_.size()) {
      std::size_t q = pos_;
      while (q < text_.size() && is_space(text_[q])) ++q;
      if (q < text_.size() && text_[q] != '\r' && text_[q] != '\n') return;
      pos_ = q;
      consume_line_end();
    }
  }

  std::string where(int64_t line, std::size_t field, const std::vector<std::string>* header) {
    if (header != nullptr && field < header->size()) {
      return fmt::format("{}: line {}, column {}", name_, line, shown((*header)[field]));
    }
    return fmt::format("{}: line {}, field {}", name_, line, field + 1);
  }

  void read_field(std::string& out, std::size_t field, const std::vector<std::string>* header) {
    out.clear();
    std::size_t q = pos_;
    while (q < text_.size() && is_space(text_[q])) ++q;
    if (q >= text_.size() || text_[q] != '"') {
      std::size_t end = pos_;
      while (end < text_.size()) {
        const char c = text_[end];
        if (c == separator_ || c == '\n' || c == '\r') break;
        ++end;
      }
      out.assign(text_.substr(pos_, end - pos_));
      pos_ = end;
      return;
    }
    const int64_t open_line = line_;
    pos_ = q + 1;
    for (;;) {
      const std::size_t close = text_.find('"', pos_);
      if (close == std::string_view::npos) {
        throw FormatError(fmt::format(
            "{}: the quoted field opened on this line is never closed (unterminated quote)",
            where(open_line, field, header)));
      }
      // Line breaks inside quotes belong to the field but still count as file lines.
      for (std::size_t i = pos_; i < close; ++i) {
        const char c = text_[i];
        line_ += c == '\n' || (c == '\r' && (i + 1 == close || text_[i + 1] != '\n'));
      }
      out.append(text_.substr(pos_, close - pos_));
      pos_ = close + 1;
      if (pos_ < text_.size() && text_[pos_] == '"') {  // "" stands for one quote
        out += '"';
        ++pos_;
        continue;
      }
      break;
    }
    while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
    if (pos_ < text_.size() && text_[pos_] != separator_ && text_[pos_] != '\n' &&
        text_[pos_] != '\r') {
      std::size_t end = pos_;
      while (end < text_.size() && text_[end] != separator_ && text_[end] != '\n' &&
             text_[end] != '\r') {
        ++end;
      }
      throw FormatError(fmt::format(
          "{}: text {} after the closing quote of {}; a quote inside a quoted field is written "
          "twice (\"\")",
          where(line_, field, header), shown(text_.substr(pos_, end - pos_)), shown(out)));
    }
  }

  std::string_view text_;
  const std::string& name_;
  char separator_;
  std::size_t pos_ = 0;
  int64_t line_ = 1;
};

}  // namespace

MissingPolicy parse_missing_policy(const std::string& name) {
  if (name == "error") return MissingPolicy::kError;
  if (name == "drop") return MissingPolicy::kDrop;
  if (name == "ffill") return MissingPolicy::kForwardFill;
  if (name == "interpolate") return MissingPolicy::kInterpolate;
  throw ValueError(fmt::format(
      "unknown missing-value policy {}; expected error, drop, ffill or interpolate", shown(name)));
}

std::string missing_policy_name(MissingPolicy policy) {
  switch (policy) {
    case MissingPolicy::kError:
      return "error";
    case MissingPolicy::kDrop:
      return "drop";
    case MissingPolicy::kForwardFill:
      return "ffill";
    case MissingPolicy::kInterpolate:
      return "interpolate";
  }
  throw ValueError(fmt::format("unknown missing-value policy {}", static_cast<int>(policy)));
}

int64_t CsvTable::column_index(const std::string& name) const {
  const auto it = std::find(columns.begin(), columns.end(), name);
  if (it != columns.end()) return it - columns.begin();
  if (time_name && *time_name == name) {
    throw ValueError(
        fmt::format("{}: {} is the time column, not a numeric column; the numeric columns are {}",
                    path, shown(name), column_list(columns)));
  }
  throw ValueError(fmt::format("{}: no column {}; the numeric columns are {}", path, shown(name),
                               column_list(columns)));
}

CsvTable parse_csv(std::string_view bytes, const std::string& name, const CsvOptions& options) {
  const char given = options.separator;
  if (given == '"' || given == '\r' || given == '\n' || given == ' ') {
    throw ValueError(fmt::format("{}: {} cannot be a CSV separator; use ',', ';' or tab", name,
                                 separator_name(given)));
  }
  std::string_view text = bytes;
  if (text.starts_with("\xFF\xFE") || text.starts_with("\xFE\xFF")) {
    throw FormatError(fmt::format(
        "{}: the file is UTF-16 encoded (it starts with a UTF-16 byte-order mark); save it as "
        "UTF-8",
        name));
  }
  if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  const char separator = given != 0 ? given : detect_separator(text);

  Tokenizer tokenizer(text, name, separator);
  Record record;
  if (!tokenizer.next(record, nullptr)) {
    throw FormatError(
        fmt::format("{}: the file is empty; expected a header row, then data rows", name));
  }
  const int64_t header_line = record.line;
  std::vector<std::string> header;
  header.reserve(record.count);
  std::unordered_map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < record.count; ++i) {
    header.emplace_back(trim(record.field(i)));
  }
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i].empty()) {
      throw FormatError(fmt::format(
          "{}: line {}: field {} of the header is empty; every column needs a name (separator {})",
          name, header_line, i + 1, separator_name(separator)));
    }
    const auto [it, inserted] = seen.emplace(header[i], i);
    if (!inserted) {
      throw FormatError(
          fmt::format("{}: line {}: the header names column {} twice (fields {} and {})", name,
                      header_line, shown(header[i]), it->second + 1, i + 1));
    }
  }

  std::optional<std::size_t> time_index;
  if (options.time_column) {
    const auto it = seen.find(*options.time_column);
    if (it == seen.end()) {
      throw ValueError(
          fmt::format("{}: the time column {} is not in the header; the columns are {}", name,
                      shown(*options.time_column), column_list(header)));
    }
    time_index = it->second;
  }

  if (!tokenizer.next(record, &header)) {
    throw FormatError(
        fmt::format("{}: no data rows after the header (line {})", name, header_line));
  }
  if (!time_index && record.count > 0) {
    float ignored = 0.0f;
    if (classify(trim(record.field(0)), ignored) == Cell::kNotNumber) time_index = 0;
  }

  CsvTable table;
  table.path = name;
  if (time_index) table.time_name = header[*time_index];
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (i != time_index) table.columns.push_back(header[i]);
  }
  if (table.columns.empty()) {
    throw FormatError(fmt::format(
        "{}: no numeric column: the only column, {}, is the time column (its cells are text)", name,
        shown(header[0])));
  }

  std::vector<float> values;
  do {
    if (record.count != header.size()) {
      throw FormatError(
          fmt::format("{}: line {}: {} field{}, expected {} as in the header "
                      "(separator {})",
                      name, record.line, record.count, record.count == 1 ? "" : "s", header.size(),
                      separator_name(separator)));
    }
    table.lines.push_back(record.line);
    for (std::size_t i = 0; i < record.count; ++i) {
      const std::string_view cell = trim(record.field(i));
      if (i == time_index) {
        table.time.emplace_back(cell);
        continue;
      }
      float value = std::numeric_limits<float>::quiet_NaN();
      const Cell kind = classify(cell, value);
      if (kind == Cell::kNumber || kind == Cell::kMissing) {
        values.push_back(kind == Cell::kNumber ? value : std::numeric_limits<float>::quiet_NaN());
        continue;
      }
      const std::string at = fmt::format("{}: line {}, column {}: {}", name, record.line,
                                         shown(header[i]), shown(cell));
      if (kind == Cell::kNotFinite) {
        throw FormatError(at +
                          " is not a finite number; leave a missing reading empty or write NA");
      }
      if (kind == Cell::kOutOfRange) {
        throw FormatError(at + " is beyond the float32 range (magnitudes up to 3.4e38)");
      }
      std::string hint;
      if (separator != ',' && looks_like_decimal_comma(cell)) {
        hint = " (a decimal comma? write numbers with a '.')";
      } else if (i == 0 && !time_index) {
        hint =
            fmt::format(" (to keep column {} as text, make it the time column)", shown(header[0]));
      }
      throw FormatError(at + " is not a number" + hint);
    }
  } while (tokenizer.next(record, &header));

  const auto rows = static_cast<int64_t>(table.lines.size());
  table.values = Tensor({rows, static_cast<int64_t>(table.columns.size())}, values);
  return table;
}

CsvTable read_csv(const std::string& path, const CsvOptions& options) {
  return parse_csv(read_file(path), path, options);
}

CsvTable select_columns(const CsvTable& table, const std::vector<std::string>& names) {
  if (names.empty()) {
    throw ValueError(fmt::format("{}: no columns selected; the numeric columns are {}", table.path,
                                 column_list(table.columns)));
  }
  std::vector<int64_t> picked;
  picked.reserve(names.size());
  for (const std::string& name : names) {
    if (std::count(names.begin(), names.end(), name) > 1) {
      throw ValueError(fmt::format("{}: column {} is selected twice", table.path, shown(name)));
    }
    picked.push_back(table.column_index(name));
  }
  CsvTable out;
  out.path = table.path;
  out.time_name = table.time_name;
  out.time = table.time;
  out.lines = table.lines;
  out.columns = names;
  const int64_t rows = table.rows();
  const auto from = static_cast<int64_t>(table.columns.size());
  const auto to = static_cast<int64_t>(names.size());
  out.values = Tensor::uninitialized({rows, to});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < to; ++c) {
      out.values[r * to + c] = table.values[r * from + picked[static_cast<std::size_t>(c)]];
    }
  }
  return out;
}

void apply_missing(CsvTable& table, MissingPolicy policy, const std::vector<std::string>& columns) {
  const auto width = static_cast<int64_t>(table.columns.size());
  const int64_t rows = table.rows();
  std::vector<int64_t> targets;
  if (columns.empty()) {
    for (int64_t c = 0; c < width; ++c) targets.push_back(c);
  } else {
    for (const std::string& name : columns) targets.push_back(table.column_index(name));
    std::sort(targets.begin(), targets.end());
    targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  }
  float* v = table.values.data();
  auto missing = [&](int64_t r, int64_t c) { return std::isnan(v[r * width + c]); };
  auto row_has_gap = [&](int64_t r) {
    return std::any_of(targets.begin(), targets.end(), [&](int64_t c) { return missing(r, c); });
  };
  auto no_value = [&](int64_t c) {
    return FormatError(fmt::format(
        "{}: column {} has no value to fill its gaps from: all {} of its cells are missing",
        table.path, shown(table.columns[static_cast<std::size_t>(c)]), rows));
  };

  switch (policy) {
    case MissingPolicy::kError:
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c : targets) {
          if (!missing(r, c)) continue;
          throw FormatError(fmt::format(
              "{}: line {}, column {}: missing value; to drop or fill missing values, choose "
              "the policy drop, ffill or interpolate (--missing, MissingPolicy in C++)",
              table.path, table.lines[static_cast<std::size_t>(r)],
              shown(table.columns[static_cast<std::size_t>(c)])));
        }
      }
      return;

    case MissingPolicy::kDrop: {
      std::vector<int64_t> kept;
      for (int64_t r = 0; r < rows; ++r) {
        if (!row_has_gap(r)) kept.push_back(r);
      }
      if (kept.empty()) {
        std::vector<std::string> names;
        for (int64_t c : targets) names.push_back(table.columns[static_cast<std::size_t>(c)]);
        throw FormatError(fmt::format(
            "{}: every one of the {} rows has a missing cell in {}: dropping them leaves no data",
            table.path, rows, column_list(names)));
      }
      if (static_cast<int64_t>(kept.size()) == rows) return;
      table.values = table.values.gather_rows(kept.data(), static_cast<int64_t>(kept.size()));
      std::vector<int64_t> lines;
      std::vector<std::string> time;
      lines.reserve(kept.size());
      for (int64_t r : kept) {
        lines.push_back(table.lines[static_cast<std::size_t>(r)]);
        if (!table.time.empty()) time.push_back(std::move(table.time[static_cast<std::size_t>(r)]));
      }
      table.lines = std::move(lines);
      table.time = std::move(time);
      return;
    }

    case MissingPolicy::kForwardFill:
      for (int64_t c : targets) {
        int64_t first = 0;
        while (first < rows && missing(first, c)) ++first;
        if (first == rows) throw no_value(c);
        for (int64_t r = 0; r < first; ++r) v[r * width + c] = v[first * width + c];
        for (int64_t r = first + 1; r < rows; ++r) {
          if (missing(r, c)) v[r * width + c] = v[(r - 1) * width + c];
        }
      }
      return;

    case MissingPolicy::kInterpolate:
      for (int64_t c : targets) {
        int64_t previous = -1;  // the last row with a value
        for (int64_t r = 0; r < rows; ++r) {
          if (missing(r, c)) continue;
          const float here = v[r * width + c];
          if (previous < 0) {
            for (int64_t g = 0; g < r; ++g) v[g * width + c] = here;
          } else {
            // In double, as numpy.interp that pandas calls; rounded once to float32.
            const double before = v[previous * width + c];
            const double step = (static_cast<double>(here) - before) / double(r - previous);
            for (int64_t g = previous + 1; g < r; ++g) {
              v[g * width + c] = static_cast<float>(before + step * double(g - previous));
            }
          }
          previous = r;
        }
        if (previous < 0) throw no_value(c);
        for (int64_t g = previous + 1; g < rows; ++g) v[g * width + c] = v[previous * width + c];
      }
      return;
  }
}

}  // namespace nnkit
