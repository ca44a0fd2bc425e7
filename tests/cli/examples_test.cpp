// The example specs build into the models their README describes: Keras's parameter counts.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/cli_run.h"
#include "nnkit/io/png.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;

struct ExampleSpec {
  const char* path;  // from the repository root
  const char* total_params;
};

class ExampleSpecs : public ::testing::TestWithParam<ExampleSpec> {};

TEST_P(ExampleSpecs, BuildWithTheDocumentedParameterCount) {
  const ExampleSpec& spec = GetParam();
  CliRun r = run_nnkit({"summary", "--spec", std::string(NNKIT_SOURCE_DIR) + "/" + spec.path});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(std::string("Total params: ") + spec.total_params + "\n"), std::string::npos)
      << r.out;
}

// 784·256 + 256 + 256·128 + 128 + 128·10 + 10; the CNN: 9·32 + 32, 9·32·64 + 64,
// 3136·128 + 128, 128·10 + 10; with BatchNormalization the convolutions and Dense 128 lose their
// biases and each normalisation adds 4 per channel or feature (2 of them running statistics).
INSTANTIATE_TEST_SUITE_P(FashionMnist, ExampleSpecs,
                         ::testing::Values(ExampleSpec{"examples/fashion_mnist/mlp.json", "235146"},
                                           ExampleSpec{"examples/fashion_mnist/cnn.json", "421642"},
                                           ExampleSpec{"examples/fashion_mnist/cnn_bn.json",
                                                       "422314"}));

// examples/autoencoder with tiny settings: it runs, prints its table and writes real PNGs. The
// example sits beside the nnkit binary; skipped when it was not built (a tests-only build) or
// when the Fashion-MNIST files are not installed.
TEST(AutoencoderExample, RunsWithTinySettings) {
  namespace fs = std::filesystem;
  const fs::path binary = fs::path(NNKIT_BINARY).parent_path() / "example_autoencoder";
  const std::string data = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(binary)) GTEST_SKIP() << binary << " not built";
  if (!fs::exists(data + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << data << " not installed";
  testing::ScratchDir scratch;
  const std::string out = scratch.file("out.txt");
  const std::string command = binary.string() + " --epochs 1 --conv-epochs 1 --train-samples 300 " +
                              "--test-samples 20 --out-dir '" + scratch.file("pictures") + "' >'" +
                              out + "' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::stringstream text;
  text << std::ifstream(out).rdbuf();
  for (const char* line : {"PCA, 32 components", "dense 784-128-32-128-784",
                           "convolutional, code 32", "denoising dense autoencoder"}) {
    EXPECT_NE(text.str().find(line), std::string::npos) << text.str();
  }
  // Four rows of ten 28×28 images, drawn at scale 2 with 2-pixel gaps: 10·(56 + 2) + 2 wide.
  const Image picture = read_png(scratch.file("pictures/reconstructions.png"));
  EXPECT_EQ(picture.width, 10 * 58 + 2);
  EXPECT_EQ(picture.height, 4 * 58 + 2);
  EXPECT_TRUE(fs::exists(scratch.file("pictures/denoising.png")));
}

}  // namespace
}  // namespace nnkit
