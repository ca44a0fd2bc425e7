// CSV time series: a table of float32 readings, one row per time step, read from a text file
// with a header row, plus the policies for missing readings. Windowing and scaling come after
// this (data/timeseries.h, data/scaler.h); this file stops at the table.
//
// What is read: a required header row; separator ',', ';' or tab, detected from the header
// (outside quotes; the most frequent of the three, ',' on a tie or when there is none);
// RFC 4180 quoted fields (the separator, doubled quotes "" and line breaks inside quotes);
// LF, CRLF or CR line ends; a UTF-8 byte-order mark; blank lines anywhere (skipped). Header
// names and cells are trimmed of surrounding spaces and tabs. Numbers are read by
// std::from_chars, whatever the locale: '.' decimal point, an optional sign ('+' too),
// exponents. A number beyond the float32 range or infinite is refused; one too small for
// float32 is rounded to it (to 0 or a subnormal).
//
// Missing cells: empty, and the markers NA, N/A, n/a, na, NaN, nan, null, NULL, None, <NA>,
// #N/A, #NA and any other spelling of NaN that from_chars reads ("-nan", "NAN"): they load as
// NaN, and apply_missing() decides what becomes of them.
//
// Every error is one line naming the file and, where it applies, the 1-based line and the
// column by its header name: `data.csv: line 7, column "heart_rate": "abc" is not a number`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nnkit/tensor.h"

namespace nnkit {

// What apply_missing() does with missing cells; the names are the --missing values.
enum class MissingPolicy {
  kError,        // "error": the first missing cell is an error naming its line and column
  kDrop,         // "drop": rows with a missing cell are removed
  kForwardFill,  // "ffill": the last value seen before the gap (a leading gap: the first after)
  kInterpolate,  // "interpolate": linear by row position (leading/trailing gaps: nearest value)
};

// "error", "drop", "ffill" or "interpolate"; anything else throws ValueError naming the
// accepted names.
MissingPolicy parse_missing_policy(const std::string& name);
// The inverse of parse_missing_policy: "error", "drop", "ffill", "interpolate".
std::string missing_policy_name(MissingPolicy policy);

struct CsvOptions {
  // The time column by header name; without it the first column is the time column when its
  // first data cell is neither a number nor missing. An unknown name throws ValueError.
  std::optional<std::string> time_column = std::nullopt;
  // 0 detects ',', ';' or '\t' from the header; any other character but '"', '\r', '\n' and
  // ' ' is taken as given (ValueError for those).
  char separator = 0;
};

struct CsvTable {
  std::string path;                      // the file, as given (for messages)
  std::optional<std::string> time_name;  // the time column's header, when there is one
  std::vector<std::string> time;         // its cells, one per row (text, trimmed); else empty
  std::vector<std::string> columns;      // the numeric columns' headers, in file order
  std::vector<int64_t> lines;            // 1-based file line where each row starts
  Tensor values;                         // [rows, columns]; NaN where a cell is missing

  int64_t rows() const { return static_cast<int64_t>(lines.size()); }
  // Index of a numeric column in `columns`. An unknown name (the time column included)
  // throws ValueError naming the file, the name and the numeric columns.
  int64_t column_index(const std::string& name) const;
};

// Reads a whole file (the bytes at once, then one linear pass). The result has at least one
// row and one numeric column. Throws IoError when the file cannot be read; FormatError when
// it is empty (or holds only blank lines), has no data rows after the header, a header name
// that is empty or repeated, a row with more or fewer fields than the header, an unterminated
// quote, text after a closing quote, a cell of a numeric column that is not a number or not
// finite or beyond float32, no numeric column at all, or is UTF-16 encoded; ValueError for an
// unknown options.time_column or a bad options.separator.
CsvTable read_csv(const std::string& path, const CsvOptions& options = {});
// The same on bytes already in memory; `name` stands for the file in messages and in
// CsvTable::path.
CsvTable parse_csv(std::string_view bytes, const std::string& name, const CsvOptions& options = {});

// The named numeric columns, in the given order, in a new table (time and lines copied).
// Throws ValueError for an empty list, a name given twice, or an unknown name (naming the
// file, the name and the available columns).
CsvTable select_columns(const CsvTable& table, const std::vector<std::string>& names);

// Applies `policy` to the missing (NaN) cells of the named columns, or of every column when
// `columns` is empty (unknown names throw ValueError, as column_index):
// - kError: FormatError naming the file, line and column of the first missing cell (in row
//   order, then column order); nothing changes when there is none.
// - kDrop: removes every row with a missing cell in those columns; time and lines follow.
//   FormatError when no row is left.
// - kForwardFill: each missing cell takes the last value above it. A leading gap, which has
//   none, takes the first value below it (back-filled, as pandas' ffill().bfill(); pandas'
//   ffill alone leaves it NaN), so that no NaN is left.
// - kInterpolate: a gap between two values is filled linearly by row position, as pandas'
//   interpolate(method="linear"); leading and trailing gaps take the nearest value, as
//   pandas' interpolate(limit_direction="both").
// kForwardFill and kInterpolate throw FormatError for a column with no value at all.
void apply_missing(CsvTable& table, MissingPolicy policy,
                   const std::vector<std::string>& columns = {});

}  // namespace nnkit
