// Issue 5's list of bad inputs, one by one, through the command line: every one ends with exit
// status 2 and one line on stderr naming the file, line, column or flag, and creates or changes
// no output file. (More cases, with the spec and flags, are in cli_test.cpp and
// csv_cli_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cli/cli_run.h"
#include "nnkit/data/npy.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/model_file.h"
#include "nnkit/layers.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;
namespace fs = std::filesystem;

class BadInputCli : public ::testing::Test {
 protected:
  void SetUp() override {
    Sequential model({.input_shape = {4, 2}, .seed = 1});
    model.add(Flatten());
    model.add(Dense({.units = 3}));
    model.compile(make_adam({}), make_loss("mse"));
    save_model(path("good.safetensors"), model);
    good_ = read_file(path("good.safetensors"));
    write_npy(path("x.npy"), Tensor({5, 4, 2}));
    // An output that exists already: a failing run must leave it as it was.
    write_file_atomically(path("out.npy"), "earlier output");
  }
  std::string path(const std::string& name) const { return scratch_.file(name); }

  // The good model file with its JSON header changed by `change`.
  void write_model_with(const std::string& name,
                        const std::function<void(nlohmann::json&)>& change) {
    uint64_t n = 0;
    std::memcpy(&n, good_.data(), 8);
    nlohmann::json header = nlohmann::json::parse(good_.substr(8, n));
    change(header);
    std::string text = header.dump();
    text.resize((text.size() + 7) / 8 * 8, ' ');
    uint64_t length = text.size();
    std::string bytes(reinterpret_cast<const char*>(&length), 8);
    write_file_atomically(path(name), bytes + text + good_.substr(8 + n));
  }

  // predict with `model` and `x` into out.npy: status 2, one line with `needle`, out.npy as it was
  // and nothing else written.
  void expect_refused(const std::string& model, const std::string& x, const std::string& needle) {
    const auto files_before = std::distance(fs::directory_iterator(scratch_.path()), {});
    CliRun r =
        run_nnkit({"predict", "--model", path(model), "--x", path(x), "--out", path("out.npy")});
    EXPECT_EQ(r.status, 2) << r.describe();
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.describe();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
    EXPECT_EQ(read_file(path("out.npy")), "earlier output");
    EXPECT_EQ(std::distance(fs::directory_iterator(scratch_.path()), {}), files_before);
  }

  testing::ScratchDir scratch_;
  std::string good_;
};

TEST_F(BadInputCli, TheGoodFilesWork) {
  CliRun r = run_nnkit({"predict", "--model", path("good.safetensors"), "--x", path("x.npy"),
                        "--out", path("p.npy")});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(read_npy(path("p.npy")).shape(), (Shape{5, 3}));
}

TEST_F(BadInputCli, DamagedModelFiles) {
  std::string bytes = good_;
  const uint64_t huge = uint64_t{1} << 40;
  std::memcpy(bytes.data(), &huge, 8);
  write_file_atomically(path("length.safetensors"), bytes);
  expect_refused("length.safetensors", "x.npy", "length.safetensors: header length 1099511627776");

  bytes = good_;
  std::memcpy(bytes.data() + 8, "#", 1);
  write_file_atomically(path("json.safetensors"), bytes);
  expect_refused("json.safetensors", "x.npy", "json.safetensors: header is not valid JSON");

  write_file_atomically(path("truncated.safetensors"), good_.substr(0, good_.size() - 10));
  expect_refused("truncated.safetensors", "x.npy", "truncated.safetensors: tensor 'layers.1.");

  write_model_with("offsets.safetensors",
                   [](nlohmann::json& h) { h["layers.1.bias"]["data_offsets"][1] = 1 << 20; });
  expect_refused("offsets.safetensors", "x.npy", "run past the end of the data");

  write_model_with("shape.safetensors",
                   [](nlohmann::json& h) { h["layers.1.bias"]["shape"] = {4}; });
  expect_refused("shape.safetensors", "x.npy", "shape [4] of F32 needs 16");

  write_model_with("dtype.safetensors",
                   [](nlohmann::json& h) { h["layers.1.bias"]["dtype"] = "C64"; });
  expect_refused("dtype.safetensors", "x.npy", "dtype 'C64' is not supported");

  write_model_with("spec.safetensors", [](nlohmann::json& h) {
    nlohmann::json spec = nlohmann::json::parse(h["__metadata__"]["nnkit.spec"].get<std::string>());
    spec["layers"][1]["units"] = 4;
    h["__metadata__"]["nnkit.spec"] = spec.dump();
  });
  expect_refused("spec.safetensors", "x.npy", "has shape [3, 8], the spec needs [4, 8]");

  write_model_with("layer.safetensors", [](nlohmann::json& h) {
    nlohmann::json spec = nlohmann::json::parse(h["__metadata__"]["nnkit.spec"].get<std::string>());
    spec["layers"][0]["type"] = "Flatten3D";
    h["__metadata__"]["nnkit.spec"] = spec.dump();
  });
  expect_refused("layer.safetensors", "x.npy", "unknown layer type 'Flatten3D'");

  write_model_with("renamed.safetensors", [](nlohmann::json& h) {
    h["layers.1.other"] = h["layers.1.bias"];
    h.erase("layers.1.bias");
  });
  expect_refused("renamed.safetensors", "x.npy", "tensor 'layers.1.bias' is missing");

  write_file_atomically(path("text.safetensors"), "hello");
  expect_refused("text.safetensors", "x.npy", "text.safetensors");
}

TEST_F(BadInputCli, BadNpyFiles) {
  write_file_atomically(path("text.npy"), "just some text, not an array");
  expect_refused("good.safetensors", "text.npy", "text.npy: not a .npy file");

  const std::string whole = read_file(path("x.npy"));
  write_file_atomically(path("short.npy"), whole.substr(0, whole.size() - 4));
  expect_refused("good.safetensors", "short.npy", "the file is truncated");

  std::string complex = whole;
  const auto at = complex.find("<f4");
  ASSERT_NE(at, std::string::npos);
  complex.replace(at, 3, "<c8");
  write_file_atomically(path("complex.npy"), complex);
  expect_refused("good.safetensors", "complex.npy", "dtype '<c8' is not supported");

  write_npy(path("features.npy"), Tensor({5, 4, 3}));
  expect_refused("good.safetensors", "features.npy",
                 "the model takes samples of shape [4, 2], x has samples of shape [4, 3]");
}

}  // namespace
}  // namespace nnkit
