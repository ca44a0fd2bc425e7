#include "nnkit/data/csv.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "nnkit/error.h"
#include "scratch_dir.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::ScratchDir;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Float vectors equal element by element, NaN equal to NaN.
void expect_values(const Tensor& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), static_cast<int64_t>(want.size()));
  for (std::size_t i = 0; i < want.size(); ++i) {
    const float g = got[static_cast<int64_t>(i)];
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(g)) << "element " << i << " is " << g << ", expected NaN";
    } else {
      EXPECT_EQ(g, want[i]) << "element " << i;
    }
  }
}

class Csv : public ::testing::Test {
 protected:
  // Writes `text` to data.csv in the scratch directory and returns its path.
  std::string write(const std::string& text, const std::string& name = "data.csv") const {
    const std::string path = scratch_.file(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  CsvTable read(const std::string& text, const CsvOptions& options = {}) const {
    return read_csv(write(text), options);
  }
  // Reading `text` throws exactly an E whose message holds the file's path and every part.
  template <typename E>
  void expect_error(const std::string& text, std::initializer_list<std::string> parts,
                    const CsvOptions& options = {}) const {
    const std::string path = write(text);
    try {
      read_csv(path, options);
      ADD_FAILURE() << "no error reading " << ::testing::PrintToString(text);
    } catch (const E& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path + ": "), std::string::npos) << what;
      for (const std::string& part : parts) {
        EXPECT_NE(what.find(part), std::string::npos) << "'" << what << "' lacks '" << part << "'";
      }
      EXPECT_EQ(what.find('\n'), std::string::npos) << "not one line: " << what;
    }
  }
  ScratchDir scratch_;
};

// ---- separators, time column, layout -------------------------------------------------------

TEST_F(Csv, ReadsCommaSeparatedRowsWithATimeColumn) {
  CsvTable t = read("date,heart_rate,temp\n2024-01-01,60,36.6\n2024-01-02,62.5,36.8\n");
  EXPECT_EQ(t.path, scratch_.file("data.csv"));
  EXPECT_EQ(t.time_name, "date");
  EXPECT_EQ(t.time, (std::vector<std::string>{"2024-01-01", "2024-01-02"}));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"heart_rate", "temp"}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.rows(), 2);
  EXPECT_EQ(t.values.shape(), (Shape{2, 2}));
  expect_values(t.values, {60.0f, 36.6f, 62.5f, 36.8f});
}

TEST_F(Csv, DetectsSemicolonAndTabSeparators) {
  for (const char* text : {"t;a;b\nx;1;2\ny;3;4\n", "t\ta\tb\nx\t1\t2\ny\t3\t4\n"}) {
    CsvTable t = read(text);
    EXPECT_EQ(t.time_name, "t") << text;
    EXPECT_EQ(t.time, (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
    expect_values(t.values, {1, 2, 3, 4});
  }
}

TEST_F(Csv, DetectsTheMostFrequentSeparatorOutsideQuotes) {
  // Two commas inside quotes, two semicolons outside: ';' wins.
  CsvTable t = read("\"a,b,c\";d;e\n1;2;3\n");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a,b,c", "d", "e"}));
  expect_values(t.values, {1, 2, 3});
  // A single column: no separator at all, ',' assumed and never met.
  CsvTable single = read("x\n1.5\n-2\n");
  EXPECT_EQ(single.columns, (std::vector<std::string>{"x"}));
  EXPECT_FALSE(single.time_name.has_value());
  expect_values(single.values, {1.5f, -2.0f});
}

TEST_F(Csv, TakesAGivenSeparator) {
  CsvTable t = read("a|b\n1|2\n", {.separator = '|'});
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
  expect_values(t.values, {1, 2});
  // Given ',' on a tab file: one column named "a\tb", whose text cell "1\t2" makes it the
  // time column.
  expect_error<FormatError>("a\tb\n1\t2\n", {"no numeric column", "\"a\\x09b\""},
                            {.separator = ','});
}

TEST_F(Csv, RefusesAQuoteOrLineBreakOrSpaceAsSeparator) {
  for (char separator : {'"', '\n', '\r', ' '}) {
    expect_error<ValueError>("a,b\n1,2\n", {"cannot be a CSV separator"}, {.separator = separator});
  }
}

TEST_F(Csv, HasNoTimeColumnWhenTheFirstCellIsANumber) {
  CsvTable t = read("a,b\n1,2\n3,4\n");
  EXPECT_FALSE(t.time_name.has_value());
  EXPECT_TRUE(t.time.empty());
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
  expect_values(t.values, {1, 2, 3, 4});
}

TEST_F(Csv, HasNoTimeColumnWhenTheFirstCellIsMissing) {
  CsvTable t = read("a,b\nNA,2\n3,4\n");
  EXPECT_FALSE(t.time_name.has_value());
  expect_values(t.values, {kNaN, 2, 3, 4});
}

TEST_F(Csv, TakesTheNamedTimeColumnWhereverItIs) {
  CsvTable t = read("hr,stamp,temp\n60,9:00,36\n61,10:00,37\n", {.time_column = "stamp"});
  EXPECT_EQ(t.time_name, "stamp");
  EXPECT_EQ(t.time, (std::vector<std::string>{"9:00", "10:00"}));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"hr", "temp"}));
  expect_values(t.values, {60, 36, 61, 37});
  // A numeric column named as time is kept as text, as written.
  CsvTable numeric = read("step,x\n 001 ,5\n2,6\n", {.time_column = "step"});
  EXPECT_EQ(numeric.time, (std::vector<std::string>{"001", "2"}));
  EXPECT_EQ(numeric.columns, (std::vector<std::string>{"x"}));
}

// ---- quoting, line ends, BOM, blank lines, spaces ------------------------------------------

TEST_F(Csv, ReadsQuotedFieldsWithSeparatorsQuotesAndLineBreaks) {
  const std::string text =
      "\"when\",\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"  // lines 1-2
      "\"2024-01-01\n08:00\",\"1.5\",\"-2\",3\n"              // lines 3-4
      "\"x,\"\"y\"\"\",4, \"5\" ,\"\"\n";                     // line 5
  CsvTable t = read(text);
  EXPECT_EQ(t.time_name, "when");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a,b", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ(t.time, (std::vector<std::string>{"2024-01-01\n08:00", "x,\"y\""}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{3, 5}));
  expect_values(t.values, {1.5f, -2, 3, 4, 5, kNaN});
}

TEST_F(Csv, ReadsCrlfAndCrLineEndsAndCountsLinesInsideQuotes) {
  CsvTable crlf = read("t,x\r\na,1\r\n\"b\r\nc\",2\r\nd,3\r\n");
  EXPECT_EQ(crlf.time, (std::vector<std::string>{"a", "b\r\nc", "d"}));
  EXPECT_EQ(crlf.lines, (std::vector<int64_t>{2, 3, 5}));
  expect_values(crlf.values, {1, 2, 3});
  CsvTable cr = read("t,x\ra,1\rb,2");
  EXPECT_EQ(cr.lines, (std::vector<int64_t>{2, 3}));
  expect_values(cr.values, {1, 2});
}

TEST_F(Csv, SkipsAUtf8ByteOrderMark) {
  CsvTable t = read(
      "\xEF\xBB\xBF"
      "date,x\nmon,1\n");
  EXPECT_EQ(t.time_name, "date");
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2}));
  expect_values(t.values, {1});
  // Without a time column the BOM must not stick to the first name either.
  EXPECT_EQ(read("\xEF\xBB\xBF"
                 "x,y\n1,2\n")
                .columns,
            (std::vector<std::string>{"x", "y"}));
}

TEST_F(Csv, SkipsBlankLinesAnywhereAndKeepsTheirNumbers) {
  CsvTable t = read("\n  \ndate,x\n\nmon,1\n \t \ntue,2\n\n\n   \n");
  EXPECT_EQ(t.lines, (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(t.time, (std::vector<std::string>{"mon", "tue"}));
  expect_values(t.values, {1, 2});
  // No line end after the last row.
  EXPECT_EQ(read("x\n1\n2").rows(), 2);
}

TEST_F(Csv, TrimsSpacesAroundNamesAndCells) {
  CsvTable t = read(" when , a ,\tb\n  mon , 1 ,\t+2.5e1 \n");
  EXPECT_EQ(t.time_name, "when");
  EXPECT_EQ(t.time, (std::vector<std::string>{"mon"}));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
  expect_values(t.values, {1, 25});
}

// ---- numbers and missing cells -------------------------------------------------------------

TEST_F(Csv, ReadsNumbersWhateverTheirSpelling) {
  CsvTable t = read("x\n-0.5\n+3\n1e3\n2.5E-2\n.5\n5.\n-0\n3.4028235e38\n1e-50\n-1e-400\n7e-45\n");
  expect_values(t.values, {-0.5f, 3.0f, 1000.0f, 0.025f, 0.5f, 5.0f, -0.0f,
                           std::numeric_limits<float>::max(), 0.0f, -0.0f, 7e-45f});
  EXPECT_TRUE(std::signbit(t.values[9]));  // -1e-400 rounds to -0
  EXPECT_GT(t.values[10], 0.0f);           // a subnormal, not 0
}

TEST_F(Csv, ReadsEveryMissingMarkerAsNaN) {
  const std::vector<std::string> markers = {"",    "NA",   "N/A",  "n/a",  "na",   "NaN",
                                            "nan", "null", "NULL", "None", "<NA>", "#N/A",
                                            "#NA", "-nan", "NAN",  "\"\"", " NA ", "\"NaN\""};
  std::string text = "t,x\n";
  for (std::size_t i = 0; i < markers.size(); ++i) {
    text += "r" + std::to_string(i) + "," + markers[i] + "\n";
  }
  CsvTable t = read(text);
  ASSERT_EQ(t.rows(), static_cast<int64_t>(markers.size()));
  for (int64_t i = 0; i < t.rows(); ++i) {
    EXPECT_TRUE(std::isnan(t.values[i])) << "marker " << markers[static_cast<std::size_t>(i)];
  }
}

TEST_F(Csv, RefusesNonFiniteAndOutOfRangeNumbers) {
  expect_error<FormatError>("t,hr\nmon,1\ntue,inf\n",
                            {"line 3, column \"hr\": \"inf\" is not a finite number"});
  expect_error<FormatError>("t,hr\nmon,-Infinity\n", {"line 2", "\"hr\"", "not a finite number"});
  expect_error<FormatError>("t,hr\nmon,1e39\n",
                            {"line 2, column \"hr\": \"1e39\" is beyond the float32 range"});
  expect_error<FormatError>("t,hr\nmon,-1e400\n", {"line 2", "beyond the float32 range"});
}

TEST_F(Csv, RefusesTextInANumericColumnNamingLineAndColumn) {
  expect_error<FormatError>("date,heart_rate\nmon,60\ntue,61\n\nwed,abc\n",
                            {"line 5, column \"heart_rate\": \"abc\" is not a number"});
  for (const char* bad : {"+-1", "++1", "0x10", "1e", "1.2.3", "12 34", "--1", "+"}) {
    expect_error<FormatError>(std::string("t,x\nmon,") + bad + "\n",
                              {"line 2, column \"x\"", "is not a number"});
  }
  // A decimal comma with another separator gets a hint.
  expect_error<FormatError>("t;x\nmon;1,5\n", {"\"1,5\" is not a number (a decimal comma?"});
  // A first column taken as numeric from its first cell gets a hint about the time column.
  expect_error<FormatError>(
      "day,x\n1,5\nsunday,6\n",
      {"line 3, column \"day\": \"sunday\" is not a number", "make it the time column"});
}

// ---- errors --------------------------------------------------------------------------------

TEST_F(Csv, RefusesAMissingFile) {
  const std::string path = scratch_.file("absent.csv");
  testing::expect_throw_containing<IoError>([&] { read_csv(path); }, path);
}

TEST_F(Csv, RefusesAnEmptyFile) {
  for (const char* text : {"", "\n\n  \n", "\xEF\xBB\xBF", "\xEF\xBB\xBF\r\n"}) {
    expect_error<FormatError>(text, {"the file is empty"});
  }
}

TEST_F(Csv, RefusesAHeaderWithoutDataRows) {
  expect_error<FormatError>("date,x\n", {"no data rows after the header (line 1)"});
  expect_error<FormatError>("\ndate,x\r\n\r\n  \n", {"no data rows after the header (line 2)"});
}

TEST_F(Csv, RefusesRaggedRowsSayingHowManyFields) {
  expect_error<FormatError>("t,a,b\nmon,1,2\ntue,3\n",
                            {"line 3: 2 fields, expected 3 as in the header (separator ',')"});
  expect_error<FormatError>("t;a;b\nmon;1;2;\n",
                            {"line 2: 4 fields, expected 3", "(separator ';')"});
  // The first data row too, before the time column is decided.
  expect_error<FormatError>("t\ta\tb\nmon\n", {"line 2: 1 field, expected 3", "(separator tab)"});
}

TEST_F(Csv, RefusesAnUnterminatedQuoteNamingWhereItOpens) {
  expect_error<FormatError>("t,x\nmon,1\ntue,\"2\nwed,3\n",
                            {"line 3, column \"x\"", "never closed (unterminated quote)"});
  expect_error<FormatError>("t,\"x\n", {"line 1, field 2", "unterminated quote"});
}

TEST_F(Csv, RefusesTextAfterAClosingQuote) {
  expect_error<FormatError>("t,x\nmon,\"1\"2\n",
                            {"line 2, column \"x\"", "\"2\" after the closing quote"});
}

TEST_F(Csv, RefusesEmptyAndDuplicateHeaderNames) {
  expect_error<FormatError>("t,a,,b\nmon,1,2,3\n", {"line 1: field 3 of the header is empty"});
  expect_error<FormatError>("\n t , \"\" \nmon,1\n", {"line 2: field 2 of the header is empty"});
  expect_error<FormatError>("t,hr,bp,hr\nmon,1,2,3\n",
                            {"line 1: the header names column \"hr\" twice (fields 2 and 4)"});
  // Trimmed names are compared.
  expect_error<FormatError>("a, a\n1,2\n", {"column \"a\" twice"});
}

TEST_F(Csv, RefusesAnUnknownTimeColumnListingTheColumns) {
  expect_error<ValueError>(
      "date,hr\nmon,1\n",
      {"the time column \"when\" is not in the header", "the columns are \"date\", \"hr\""},
      {.time_column = "when"});
}

TEST_F(Csv, RefusesAFileWhoseOnlyColumnIsTheTimeColumn) {
  expect_error<FormatError>("date\nmon\ntue\n", {"no numeric column", "\"date\""});
}

TEST_F(Csv, RefusesUtf16) {
  expect_error<FormatError>(std::string("\xFF\xFE"
                                        "a\0,\0b\0",
                                        8),
                            {"UTF-16", "save it as UTF-8"});
}

TEST_F(Csv, EscapesControlBytesAndCutsLongCellsInMessages) {
  const std::string path = write("t,x\nmon,a\x01" + std::string(100, 'b') + "\n");
  try {
    read_csv(path);
    ADD_FAILURE() << "no error";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\"a\\x01bbb"), std::string::npos) << what;
    EXPECT_NE(what.find("...\" is not a number"), std::string::npos) << what;
    EXPECT_LT(what.size(), path.size() + 120) << what;
  }
}

// ---- policies ------------------------------------------------------------------------------

TEST(MissingPolicy, ParsesItsFourNames) {
  EXPECT_EQ(parse_missing_policy("error"), MissingPolicy::kError);
  EXPECT_EQ(parse_missing_policy("drop"), MissingPolicy::kDrop);
  EXPECT_EQ(parse_missing_policy("ffill"), MissingPolicy::kForwardFill);
  EXPECT_EQ(parse_missing_policy("interpolate"), MissingPolicy::kInterpolate);
  for (MissingPolicy p : {MissingPolicy::kError, MissingPolicy::kDrop, MissingPolicy::kForwardFill,
                          MissingPolicy::kInterpolate}) {
    EXPECT_EQ(parse_missing_policy(missing_policy_name(p)), p);
  }
  testing::expect_throw_containing<ValueError>(
      [] { parse_missing_policy("Drop"); },
      "unknown missing-value policy \"Drop\"; expected error, drop, ffill or interpolate");
}

// Six rows, three columns: a has a leading and an inner gap, b inner and trailing gaps,
// c none. Lines skip 5 (blank) so that lines and row indices differ.
constexpr const char* kGappy =
    "day,a,b,c\n"
    "d1,,10,1\n"   // line 2
    "d2,NA,,2\n"   // line 3
    "d3,3,,3\n"    // line 4
    "\n"           // line 5
    "d4,,40,4\n"   // line 6
    "d5,7,NA,5\n"  // line 7
    "d6,8,,6\n";   // line 8

TEST_F(Csv, ErrorPolicyNamesTheFirstMissingCell) {
  CsvTable t = read(kGappy);
  const std::string path = t.path;
  testing::expect_throw_containing<FormatError>([&] { apply_missing(t, MissingPolicy::kError); },
                                                path + ": line 2, column \"a\": missing value");
  // Row order first: in b and c the first gap is b's on line 3.
  testing::expect_throw_containing<FormatError>(
      [&] {
        apply_missing(t, MissingPolicy::kError, {"c", "b"});
      },
      path +
          ": line 3, column \"b\": missing value; to drop or fill missing values, choose the "
          "policy drop, ffill or interpolate (--missing, MissingPolicy in C++)");
  CsvTable before = t;
  apply_missing(t, MissingPolicy::kError, {"c"});  // no gap in c: nothing happens
  expect_values(t.values, before.values.to_vector());
}

TEST_F(Csv, DropPolicyRemovesRowsWithGapsKeepingTimeAndLinesAligned) {
  CsvTable all = read(kGappy);
  // Every row has a gap somewhere: drop by a and c only.
  CsvTable t = all;
  apply_missing(t, MissingPolicy::kDrop, {"a", "c"});
  EXPECT_EQ(t.time, (std::vector<std::string>{"d3", "d5", "d6"}));
  EXPECT_EQ(t.lines, (std::vector<int64_t>{4, 7, 8}));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b", "c"}));
  expect_values(t.values, {3, kNaN, 3, 7, kNaN, 5, 8, kNaN, 6});  // b keeps its gaps

  CsvTable b_only = all;
  apply_missing(b_only, MissingPolicy::kDrop, {"b"});
  EXPECT_EQ(b_only.time, (std::vector<std::string>{"d1", "d4"}));
  EXPECT_EQ(b_only.lines, (std::vector<int64_t>{2, 6}));
  expect_values(b_only.values, {kNaN, 10, 1, kNaN, 40, 4});

  CsvTable none_left = all;
  testing::expect_throw_containing<FormatError>(
      [&] { apply_missing(none_left, MissingPolicy::kDrop); },
      "every one of the 6 rows has a missing cell in \"a\", \"b\", \"c\"");
}

TEST_F(Csv, DropPolicyWithoutATimeColumn) {
  CsvTable t = read("x,y\n1,\n2,20\n,30\n4,40\n");
  apply_missing(t, MissingPolicy::kDrop);
  EXPECT_TRUE(t.time.empty());
  EXPECT_EQ(t.lines, (std::vector<int64_t>{3, 5}));
  expect_values(t.values, {2, 20, 4, 40});
}

TEST_F(Csv, ForwardFillCopiesDownAndBackFillsALeadingGap) {
  CsvTable t = read(kGappy);
  apply_missing(t, MissingPolicy::kForwardFill);
  // a: _,_,3,_,7,8 -> 3,3,3,3,7,8 (leading gap back-filled from 3)
  // b: 10,_,_,40,_,_ -> 10,10,10,40,40,40
  expect_values(t.values, {3, 10, 1, 3, 10, 2, 3, 10, 3, 3, 40, 4, 7, 40, 5, 8, 40, 6});
  EXPECT_EQ(t.lines, (std::vector<int64_t>{2, 3, 4, 6, 7, 8}));
}

TEST_F(Csv, InterpolationIsLinearByRowPositionWithNearestValuesAtTheEnds) {
  CsvTable t = read(kGappy);
  apply_missing(t, MissingPolicy::kInterpolate, {"b"});
  // b: 10,_,_,40,_,_ -> 10,20,30,40,40,40 (a keeps its gaps)
  expect_values(t.values, {kNaN, 10, 1, kNaN, 20, 2, 3, 30, 3, kNaN, 40, 4, 7, 40, 5, 8, 40, 6});
  apply_missing(t, MissingPolicy::kInterpolate);
  // a: _,_,3,_,7,8 -> 3,3,3,5,7,8 (the blank line 5 is no row: positions, not lines)
  expect_values(t.values, {3, 10, 1, 3, 20, 2, 3, 30, 3, 5, 40, 4, 7, 40, 5, 8, 40, 6});
}

TEST_F(Csv, InterpolationRoundsOnceToFloat32) {
  CsvTable t = read("x\n1\n\n\nNA\nNA\n2\n");
  apply_missing(t, MissingPolicy::kInterpolate);
  // 1 + k/3 in double, then rounded: 4/3 and 5/3 as float32.
  expect_values(t.values,
                {1.0f, static_cast<float>(4.0 / 3.0), static_cast<float>(5.0 / 3.0), 2.0f});
}

TEST_F(Csv, FillingAColumnWithoutAnyValueIsAnError) {
  for (MissingPolicy p : {MissingPolicy::kForwardFill, MissingPolicy::kInterpolate}) {
    CsvTable t = read("t,x,y\nmon,1,\ntue,2,NA\n");
    testing::expect_throw_containing<FormatError>(
        [&] { apply_missing(t, p); },
        t.path +
            ": column \"y\" has no value to fill its gaps from: all 2 of its cells are "
            "missing");
    apply_missing(t, p, {"x"});  // x alone is fine
  }
}

TEST_F(Csv, ApplyMissingRefusesUnknownColumns) {
  CsvTable t = read(kGappy);
  testing::expect_throw_containing<ValueError>(
      [&] {
        apply_missing(t, MissingPolicy::kDrop, {"a", "zz"});
      },
      t.path + ": no column \"zz\"; the numeric columns are \"a\", \"b\", \"c\"");
}

// ---- selection -----------------------------------------------------------------------------

TEST_F(Csv, SelectsColumnsInTheGivenOrder) {
  CsvTable t = read("day,a,b,c\nmon,1,2,3\ntue,4,5,6\n");
  CsvTable s = select_columns(t, {"c", "a"});
  EXPECT_EQ(s.path, t.path);
  EXPECT_EQ(s.columns, (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(s.time_name, "day");
  EXPECT_EQ(s.time, t.time);
  EXPECT_EQ(s.lines, t.lines);
  EXPECT_EQ(s.values.shape(), (Shape{2, 2}));
  expect_values(s.values, {3, 1, 6, 4});
  EXPECT_EQ(s.column_index("a"), 1);
  EXPECT_EQ(t.column_index("b"), 1);
}

TEST_F(Csv, SelectionRefusesUnknownRepeatedAndNoColumns) {
  CsvTable t = read("day,a,b\nmon,1,2\n");
  testing::expect_throw_containing<ValueError>(
      [&] {
        select_columns(t, {"a", "heart"});
      },
      t.path + ": no column \"heart\"; the numeric columns are \"a\", \"b\"");
  testing::expect_throw_containing<ValueError>(
      [&] { select_columns(t, {"day"}); },
      t.path +
          ": \"day\" is the time column, not a numeric column; the numeric columns are \"a\", "
          "\"b\"");
  testing::expect_throw_containing<ValueError>(
      [&] {
        select_columns(t, {"a", "b", "a"});
      },
      "column \"a\" is selected twice");
  testing::expect_throw_containing<ValueError>([&] { select_columns(t, {}); },
                                               "no columns selected");
}

TEST_F(Csv, ListsAtMostTwentyColumnsInMessages) {
  std::string header = "h0";
  std::string row = "0";
  for (int i = 1; i < 30; ++i) {
    header += ",h" + std::to_string(i);
    row += "," + std::to_string(i);
  }
  CsvTable t = read(header + "\n" + row + "\n");
  testing::expect_throw_containing<ValueError>([&] { t.column_index("nope"); },
                                               "\"h19\", ... (30 in all)");
}

// ---- size and robustness -------------------------------------------------------------------

TEST_F(Csv, ReadsAHundredThousandRows) {
  std::string text = "t,a,b,c,d,e,f\n";
  constexpr int kRows = 100000;
  for (int i = 0; i < kRows; ++i) {
    text += "r" + std::to_string(i) + "," + std::to_string(i) + ",1.5,-2,3e2,0.25,\n";
  }
  CsvTable t = read(text);
  ASSERT_EQ(t.rows(), kRows);
  EXPECT_EQ(t.values.shape(), (Shape{kRows, 6}));
  EXPECT_EQ(t.time[kRows - 1], "r99999");
  EXPECT_EQ(t.lines[kRows - 1], kRows + 1);
  expect_values(t.values.slice_rows(kRows - 1, kRows), {99999, 1.5f, -2, 300, 0.25f, kNaN});
}

TEST(CsvBytes, MutatedFilesParseOrThrowAnNnkitError) {
  const std::vector<std::string> originals = {
      "\xEF\xBB\xBF"
      "date,\"heart rate\",temp\r\n2024-01-01,60,36.6\r\n\"2024-01-02\",\"6\"\"1\","
      "NA\r\n2024-01-03,,37.1\r\n",
      "a;b;\"c\nd\"\n1;2,5;3\n\n-4;+5e-1;\"6\"\n",
      "x\ty\n1\t2\n3\tnan\n",
  };
  std::mt19937 rng(20240611);
  int parsed = 0;
  for (const std::string& original : originals) {
    for (int trial = 0; trial < 4000; ++trial) {
      const std::string bytes = testing::mutate_bytes(original, rng);
      try {
        CsvTable t = parse_csv(bytes, "fuzz.csv");
        ++parsed;
        ASSERT_EQ(t.values.shape(), (Shape{t.rows(), static_cast<int64_t>(t.columns.size())}));
        ASSERT_GE(t.rows(), 1);
        ASSERT_FALSE(t.columns.empty());
        ASSERT_TRUE(t.time.empty() || static_cast<int64_t>(t.time.size()) == t.rows());
        for (float v : t.values) ASSERT_FALSE(std::isinf(v));
        apply_missing(t, MissingPolicy::kInterpolate);
      } catch (const Error&) {
      }
    }
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace nnkit
