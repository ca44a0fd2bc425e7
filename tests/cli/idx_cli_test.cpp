// The command-line tool on IDX files: train, evaluate and predict with --idx/--labels on a
// tiny generated image set, and the flag and file errors, each exit status 2 with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "cli/cli_run.h"
#include "data/idx_writer.h"
#include "nlohmann/json.hpp"
#include "nnkit/data/idx.h"
#include "nnkit/data/npy.h"
#include "nnkit/io/model_file.h"
#include "nnkit/random.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::idx_elements;
using testing::idx_header;
using testing::run_nnkit;
namespace fs = std::filesystem;

constexpr uint32_t kImages = 60, kHeight = 4, kWidth = 5, kClasses = 3;

class IdxCli : public ::testing::Test {
 protected:
  // 4x5 images of noise with one bright row, the row of the class: learnable by a softmax.
  void SetUp() override {
    Rng rng(11);
    std::vector<uint8_t> pixels, labels;
    for (uint32_t n = 0; n < kImages; ++n) {
      const uint32_t label = n % kClasses;
      labels.push_back(static_cast<uint8_t>(label));
      for (uint32_t r = 0; r < kHeight; ++r) {
        for (uint32_t c = 0; c < kWidth; ++c) {
          const float v = r == label ? rng.uniform(180, 255) : rng.uniform(0, 60);
          pixels.push_back(static_cast<uint8_t>(v));
        }
      }
    }
    testing::write_gzip(path("images.gz"),
                        idx_header(0x08, {kImages, kHeight, kWidth}) + idx_elements(pixels));
    testing::write_gzip(path("labels.gz"), idx_header(0x08, {kImages}) + idx_elements(labels));
    labels.pop_back();
    testing::write_plain(path("labels59"), idx_header(0x08, {kImages - 1}) + idx_elements(labels));
    std::ofstream(path("spec.json")) << R"({"input_shape": [1, 4, 5],
      "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 3, "activation": "softmax"}],
      "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"],
      "optimizer": {"type": "adam", "learning_rate": 0.05}, "seed": 7})";
  }
  std::string path(const std::string& name) const { return scratch_.file(name); }

  // Exit status 2, exactly one line on stderr containing `needle`.
  static void expect_usage_error(const CliRun& r, const std::string& needle) {
    EXPECT_EQ(r.status, 2) << r.describe();
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.describe();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
  }

  CliRun train(const std::vector<std::string>& data) const {
    std::vector<std::string> args = {
        "train",        "--spec", path("spec.json"), "--epochs", "20",
        "--batch-size", "8",      "--quiet",         "--out",    path("m.safetensors")};
    args.insert(args.end(), data.begin(), data.end());
    return run_nnkit(args);
  }

  testing::ScratchDir scratch_;
};

TEST_F(IdxCli, TrainEvaluatePredict) {
  CliRun r = train({"--idx", path("images.gz"), "--labels", path("labels.gz")});
  ASSERT_EQ(r.status, 0) << r.describe();

  r = run_nnkit({"evaluate", "--model", path("m.safetensors"), "--idx", path("images.gz"),
                 "--labels", path("labels.gz"), "--json"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_LT(j.at("loss").get<double>(), 0.5) << r.out;
  EXPECT_GE(j.at("accuracy").get<double>(), 0.95) << r.out;
  EXPECT_GT(j.at("seconds").get<double>(), 0.0) << r.out;
  EXPECT_NEAR(j.at("samples_per_second").get<double>() * j.at("seconds").get<double>(), kImages,
              1e-6 * kImages)
      << r.out;

  r = run_nnkit({"evaluate", "--model", path("m.safetensors"), "--idx", path("images.gz"),
                 "--labels", path("labels.gz")});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find(" - accuracy: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" samples/s"), std::string::npos) << r.out;

  r = run_nnkit({"predict", "--model", path("m.safetensors"), "--idx", path("images.gz"), "--out",
                 path("p.npy")});
  ASSERT_EQ(r.status, 0) << r.describe();
  Tensor p = read_npy(path("p.npy"));
  EXPECT_EQ(p.shape(), (Shape{kImages, kClasses}));
  Tensor expected = load_model(path("m.safetensors")).predict(read_idx_images(path("images.gz")));
  EXPECT_EQ(p.to_vector(), expected.to_vector());
}

TEST_F(IdxCli, ImagesAndLabelsCountsMustAgree) {
  CliRun r = train({"--idx", path("images.gz"), "--labels", path("labels59")});
  expect_usage_error(r, "holds 60 images but --labels");
  EXPECT_NE(r.err.find(path("images.gz")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path("labels59") + " holds 59 labels"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
  ASSERT_EQ(train({"--idx", path("images.gz"), "--labels", path("labels.gz")}).status, 0);
  expect_usage_error(run_nnkit({"evaluate", "--model", path("m.safetensors"), "--idx",
                                path("images.gz"), "--labels", path("labels59")}),
                     "holds 59 labels");
}

TEST_F(IdxCli, MalformedIdxFileNamesTheFlagAndFile) {
  testing::write_plain(path("bad.idx"), "not an idx file");
  CliRun r = train({"--idx", path("bad.idx"), "--labels", path("labels.gz")});
  expect_usage_error(r, "--idx: " + path("bad.idx") + ": not an IDX file");
  r = train({"--idx", path("images.gz"), "--labels", path("bad.idx")});
  expect_usage_error(r, "--labels: " + path("bad.idx"));
  // Images where labels belong: a 3-D file.
  r = train({"--idx", path("images.gz"), "--labels", path("images.gz")});
  expect_usage_error(r, "expected labels as a 1-D IDX file");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
}

TEST_F(IdxCli, ExactlyOnePairOfDataFlags) {
  write_npy(path("x.npy"), Tensor({kImages, 1, kHeight, kWidth}));
  write_npy(path("y.npy"), Tensor({kImages}));
  const std::string idx = path("images.gz"), labels = path("labels.gz");
  expect_usage_error(train({"--x", path("x.npy"), "--y", path("y.npy"), "--idx", idx}), "excludes");
  expect_usage_error(train({"--x", path("x.npy"), "--y", path("y.npy"), "--labels", labels}),
                     "excludes");
  expect_usage_error(train({"--labels", labels}), "--labels requires --idx");
  expect_usage_error(train({"--idx", idx}), "--idx requires --labels");
  expect_usage_error(train({"--x", path("x.npy")}), "--x requires --y");
  expect_usage_error(train({}), "--x/--y, --idx/--labels or --csv is required");
  expect_usage_error(run_nnkit({"evaluate", "--model", path("spec.json"), "--idx", idx}),
                     "--idx requires --labels");
  expect_usage_error(run_nnkit({"predict", "--model", path("spec.json"), "--out", path("p.npy")}),
                     "--x, --idx or --csv is required");
  expect_usage_error(run_nnkit({"predict", "--model", path("spec.json"), "--idx", idx, "--labels",
                                labels, "--out", path("p.npy")}),
                     "unknown option '--labels'");
  expect_usage_error(run_nnkit({"predict", "--model", path("spec.json"), "--idx", idx, "--x",
                                path("x.npy"), "--out", path("p.npy")}),
                     "excludes");
  expect_usage_error(train({"--idx", path("missing.gz"), "--labels", labels}), "missing.gz");
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
  EXPECT_FALSE(fs::exists(path("p.npy")));
}

}  // namespace
}  // namespace nnkit
