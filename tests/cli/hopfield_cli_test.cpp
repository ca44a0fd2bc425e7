// nnkit hopfield: the capacity table on small networks (well under a second), and its usage
// errors (exit status 2, one line naming the flag).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_run.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;

// The table row of P stored patterns: from the line that starts with P right-aligned in 5.
std::string row_of(const std::string& out, int p) {
  std::string start = std::to_string(p);
  start = std::string(5 - start.size(), ' ') + start + " ";
  const std::size_t at = out.find("\n" + start);
  if (at == std::string::npos) return "";
  return out.substr(at + 1, out.find('\n', at + 1) - at - 1);
}

// The numbers of a row, the '|' separators left out.
std::vector<double> numbers_of(const std::string& row) {
  std::vector<double> out;
  std::istringstream in(row);
  std::string token;
  while (in >> token) {
    if (token != "|") out.push_back(std::stod(token));
  }
  return out;
}

TEST(CliHopfield, PrintsRecallPerPatternCountForBothRules) {
  // N = 100: P = 5 is far below 0.138·N (every probe recalled, in one sweep, by both rules);
  // P = 25 = 0.25·N is far above it for the Hebbian rule (few probes exact, the overlap well
  // below 1) but within the projection rule's reach.
  CliRun r = run_nnkit(
      {"hopfield", "--neurons", "100", "--patterns", "5,25", "--probes", "40", "--seed", "3"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("N = 100 neurons, random patterns"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(10 bits)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| hebbian"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| projection"), std::string::npos) << r.out;
  EXPECT_EQ(row_of(r.out, 5),
            "    5  0.050 |  1.000   1.000   1.000   1.00 |  1.000   1.000   1.000   1.00")
      << r.out;
  const std::vector<double> row = numbers_of(row_of(r.out, 25));
  ASSERT_EQ(row.size(), 10u) << r.out;  // P, P/N, then exact, overlap, stable, steps per rule
  EXPECT_EQ(row[1], 0.25);
  EXPECT_LT(row[2], 0.25) << r.out;  // Hebbian exact
  EXPECT_LT(row[3], 0.9) << r.out;   // Hebbian overlap
  EXPECT_EQ(row[4], 1.0) << r.out;   // asynchronous recall always settles
  EXPECT_EQ(row[6], 1.0) << r.out;   // projection exact
  EXPECT_EQ(row[7], 1.0) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliHopfield, DefaultCurveOneRuleSynchronous) {
  CliRun r = run_nnkit(
      {"hopfield", "--neurons", "40", "--rule", "projection", "--mode", "sync", "--probes", "4"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("recalled (sync)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("hebbian"), std::string::npos) << r.out;
  // N·(0.025, 0.05, 0.1, 0.138, 0.2, 0.3, 0.5) rounded: 1, 2, 4, 6, 8, 12, 20.
  for (int p : {1, 2, 4, 6, 8, 12, 20}) EXPECT_FALSE(row_of(r.out, p).empty()) << p << r.out;
}

TEST(CliHopfield, MorePatternsThanNeuronsAreDependentForTheProjectionRule) {
  CliRun r = run_nnkit({"hopfield", "--neurons", "10", "--patterns", "11", "--probes", "11"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const std::string row = row_of(r.out, 11);
  // The Hebbian cell holds numbers; the projection cell says why it has none.
  ASSERT_GT(row.size(), 18u) << r.out;
  EXPECT_EQ(row.substr(row.size() - 18), "linearly dependent") << r.out;
  EXPECT_EQ(std::count(row.begin(), row.end(), '|'), 2) << r.out;
}

TEST(CliHopfield, FashionMnistImages) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(dir + "/t10k-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << dir << " is absent (Debian package dataset-fashion-mnist)";
  }
  CliRun r = run_nnkit({"hopfield", "--fashion-mnist", dir, "--patterns", "1", "--probes", "3",
                        "--rule", "hebbian"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("N = 784 neurons, binarised images of"), std::string::npos) << r.out;
  // One stored image is always recalled: its own field is (1 − 1/N)·p.
  EXPECT_EQ(row_of(r.out, 1).substr(0, 22), "    1  0.001 |  1.000 ") << r.out;
}

TEST(CliHopfield, UsageErrorsExitTwoNamingTheFlag) {
  for (const auto& [args, needle] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"hopfield", "--rule", "hebb"}, "--rule"},
           {{"hopfield", "--mode", "parallel"}, "--mode"},
           {{"hopfield", "--noise", "1.5"}, "--noise"},
           {{"hopfield", "--patterns", "0"}, "--patterns"},
           {{"hopfield", "--neurons", "-3"}, "--neurons"},
           {{"hopfield", "--max-steps", "0"}, "--max-steps"},
           {{"hopfield", "--bogus"}, "--bogus"},
           {{"hopfield", "--neurons", "10", "--fashion-mnist", "/nonexistent"}, "--neurons"},
           {{"hopfield", "--fashion-mnist", "/nonexistent"}, "--fashion-mnist"}}) {
    CliRun r = run_nnkit(args);
    EXPECT_EQ(r.status, 2) << r.describe();
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.describe();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
  }
}

}  // namespace
}  // namespace nnkit
