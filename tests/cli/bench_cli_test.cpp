// nnkit bench as bench/compare_pytorch.py reads it: one JSON object with a result per model
// and configuration. Runs the tiny configuration only, so that it takes well under a second;
// no assertion on the timings themselves, which depend on the machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_run.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;

TEST(CliBench, JsonHasAResultPerModelWithItsKeys) {
  CliRun r = run_nnkit({"--threads", "1", "bench", "--json", "--config", "tiny",
                        "--steps-per-round", "2", "--warmup", "1", "--rounds", "2"});
  ASSERT_EQ(r.status, 0) << r.describe();
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j.at("threads"), 1);
  ASSERT_EQ(j.at("results").size(), 2u) << r.out;
  EXPECT_EQ(j["results"][0].at("model"), "lstm");
  EXPECT_EQ(j["results"][1].at("model"), "gru");
  for (const auto& result : j["results"]) {
    for (const char* key : {"config", "kind", "input_features", "units", "layers", "batch", "steps",
                            "ms_per_step", "steps_per_s", "peak_rss_mib", "round_ms", "loss"}) {
      EXPECT_TRUE(result.contains(key)) << key << " missing in " << result.dump();
    }
    EXPECT_EQ(result["config"], "tiny");
    EXPECT_EQ(result["steps_per_round"], 2);
    EXPECT_EQ(result["round_ms"].size(), 2u);
    EXPECT_GT(result["ms_per_step"].get<double>(), 0.0);
    EXPECT_GT(result["peak_rss_mib"].get<double>(), 0.0);
  }
}

// Each configuration runs in a forked child. Were an OpenMP pool started in the parent before
// the fork (the CLI once did, turning on flush-to-zero on every pool thread at start), the
// child's first parallel region would wait forever for pool threads fork did not copy. The
// reference configuration on 2 threads runs parallel regions (the SGD update) in the child.
TEST(CliBench, ChildRunsParallelRegionsOnTwoThreads) {
  CliRun r = run_nnkit({"--threads", "2", "bench", "--json", "--config", "reference",
                        "--steps-per-round", "2", "--warmup", "1", "--rounds", "1"},
                       /*timeout_seconds=*/120);
  ASSERT_EQ(r.status, 0) << r.describe();
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j.at("threads"), 2);
  EXPECT_EQ(j.at("results").size(), 2u) << r.out;
}

TEST(CliBench, StreamingAndOneModel) {
  CliRun r = run_nnkit({"bench", "--json", "--model", "gru", "--config", "stream",
                        "--steps-per-round", "3", "--rounds", "1"});
  ASSERT_EQ(r.status, 0) << r.describe();
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("results").size(), 1u);
  EXPECT_EQ(j["results"][0].at("kind"), "stream");
  EXPECT_EQ(j["results"][0].at("steps"), 1);
}

TEST(CliBench, HalfPrecisionStreamingIsAnLstmConfiguration) {
  CliRun r = run_nnkit({"bench", "--json", "--config", "stream,stream16", "--steps-per-round", "3",
                        "--rounds", "1"});
  ASSERT_EQ(r.status, 0) << r.describe();
  nlohmann::json j = nlohmann::json::parse(r.out);
  std::vector<std::string> seen;
  for (const auto& result : j.at("results"))
    seen.push_back(fmt::format("{} {} {}", result.at("model").get<std::string>(),
                               result.at("config").get<std::string>(),
                               result.at("weights").get<std::string>()));
  EXPECT_EQ(seen, (std::vector<std::string>{"lstm stream float32", "lstm stream16 float16",
                                            "gru stream float32"}));
}

TEST(CliBench, UsageErrorsNameTheArgument) {
  for (const auto& [args, needle] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"bench", "--config", "huge"}, "huge"},
           {{"bench", "--model", "rnn"}, "--model"},
           {{"bench", "--rounds", "0"}, "--rounds"},
           {{"bench", "--bogus"}, "--bogus"}}) {
    CliRun r = run_nnkit(args);
    EXPECT_EQ(r.status, 2) << r.describe();
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.describe();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
  }
}

}  // namespace
}  // namespace nnkit
