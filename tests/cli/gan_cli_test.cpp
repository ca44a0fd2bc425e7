// nnkit gan: short runs of both experiments (a second or two each) that print their figures
// and write real PNG files, and the usage errors (exit status 2, one line naming the flag).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "cli/cli_run.h"
#include "nnkit/io/png.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;

TEST(CliGan, MixtureRunPrintsCoverageAndWritesAScatterPlot) {
  testing::ScratchDir dir;
  CliRun r = run_nnkit({"gan", "--data", "mixture", "--epochs", "2", "--out-dir",
                        dir.path().string(), "--seed", "3"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("GAN on a ring of 8 Gaussians (radius 2, sigma 0.05)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("epoch    2  d_loss "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" of 8 (a mode counts when >= 2% of 10000 samples"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("high-quality samples (within 3 sigma of some centre): "), std::string::npos)
      << r.out;
  const Image img = read_png(dir.file("gan_mixture.png"));
  EXPECT_EQ(img.width, 512);
  EXPECT_EQ(img.height, 512);
  EXPECT_EQ(img.channels, 3);
  // Blue (real) dots are drawn: the plot is not blank.
  int64_t blue = 0;
  for (std::size_t i = 0; i + 2 < img.pixels.size(); i += 3)
    blue += img.pixels[i] == 40 && img.pixels[i + 1] == 90 && img.pixels[i + 2] == 220;
  EXPECT_GT(blue, 1000);
}

TEST(CliGan, FashionMnistRunWritesAGridOfSamples) {
  const std::string data = "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(data + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "no Fashion-MNIST in " << data;
  testing::ScratchDir dir;
  CliRun r = run_nnkit({"gan", "--data", "fashion-mnist", "--epochs", "2", "--images", "256",
                        "--png-every", "1", "--out-dir", dir.path().string()});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("GAN on Fashion-MNIST: 256 training images"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch   2  d_loss "), std::string::npos) << r.out;
  for (const char* name : {"gan_fashion_epoch_001.png", "gan_fashion_epoch_002.png"}) {
    const Image img = read_png(dir.file(name));
    // 8 × 8 images of 28 × 28 drawn at scale 2, with a 2-pixel border: 8·58 + 2.
    EXPECT_EQ(img.width, 466) << name;
    EXPECT_EQ(img.height, 466) << name;
    EXPECT_EQ(img.channels, 1) << name;
  }
}

TEST(CliGan, BadFlagsExitWithStatus2) {
  CliRun r = run_nnkit({"gan", "--data", "cifar"});
  EXPECT_EQ(r.status, 2) << r.describe();
  EXPECT_NE(r.err.find("--data"), std::string::npos) << r.err;

  r = run_nnkit({"gan", "--epochs", "0"});
  EXPECT_EQ(r.status, 2) << r.describe();
  EXPECT_NE(r.err.find("--epochs"), std::string::npos) << r.err;

  r = run_nnkit({"gan", "--epochs", "1", "--out-dir", "/nonexistent/nnkit_gan"});
  EXPECT_EQ(r.status, 2) << r.describe();
  EXPECT_NE(r.err.find("--out-dir /nonexistent/nnkit_gan: not a directory"), std::string::npos)
      << r.err;

  r = run_nnkit({"gan", "--bogus"});
  EXPECT_EQ(r.status, 2) << r.describe();
}

}  // namespace
}  // namespace nnkit
