#include "nnkit/io/png.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"
#include "scratch_dir.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;
using testing::ScratchDir;

TEST(Png, GreyAndRgbReadBackExactly) {
  ScratchDir dir;
  Image grey{.width = 3, .height = 2, .channels = 1, .pixels = {0, 10, 20, 200, 250, 255}};
  write_png(dir.file("g.png"), grey);
  // The PNG signature, then IHDR with the width and height big-endian.
  const std::string bytes = read_file(dir.file("g.png"));
  ASSERT_GT(bytes.size(), 24u);
  EXPECT_EQ(bytes.substr(1, 3), "PNG");
  EXPECT_EQ(bytes.substr(12, 4), "IHDR");
  EXPECT_EQ(static_cast<int>(bytes[19]), 3);
  EXPECT_EQ(static_cast<int>(bytes[23]), 2);
  Image back = read_png(dir.file("g.png"));
  EXPECT_EQ(back.width, 3);
  EXPECT_EQ(back.height, 2);
  EXPECT_EQ(back.channels, 1);
  EXPECT_EQ(back.pixels, grey.pixels);

  Image rgb{.width = 1, .height = 2, .channels = 3, .pixels = {255, 0, 0, 1, 2, 3}};
  write_png(dir.file("c.png"), rgb);
  back = read_png(dir.file("c.png"));
  EXPECT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, rgb.pixels);
}

TEST(Png, GridPlacesEachImageInItsCell) {
  // Two 1x2 images, values in [-1, 1], 2 columns, gap 1, scale 2: a 5+... grid.
  Tensor images({2, 1, 2}, {-1.0f, 1.0f, 0.0f, 5.0f});
  Image g = image_grid(images, 2, -1.0f, 1.0f, /*gap=*/1, /*scale=*/2);
  EXPECT_EQ(g.width, 2 * (2 * 2 + 1) + 1);   // 11
  EXPECT_EQ(g.height, 1 * (1 * 2 + 1) + 1);  // 4
  auto at = [&](int64_t x, int64_t y) { return static_cast<int>(g.pixels[y * g.width + x]); };
  EXPECT_EQ(at(0, 0), 255);  // border
  EXPECT_EQ(at(1, 1), 0);    // image 0, pixel (0, 0): -1 -> black
  EXPECT_EQ(at(2, 2), 0);    // scaled: the same pixel
  EXPECT_EQ(at(3, 1), 255);  // pixel (0, 1): 1 -> white
  EXPECT_EQ(at(5, 1), 255);  // the gap between the cells
  EXPECT_EQ(at(6, 1), 128);  // image 1, pixel (0, 0): 0 -> middle grey
  EXPECT_EQ(at(8, 2), 255);  // 5 clamped to white
  EXPECT_EQ(at(6, 3), 255);  // bottom border
}

TEST(Png, Errors) {
  ScratchDir dir;
  expect_throw_containing<ValueError>([&] { write_png(dir.file("a.png"), Image{}); }, "empty");
  expect_throw_containing<ValueError>(
      [&] {
        write_png(dir.file("a.png"),
                  Image{.width = 1, .height = 1, .channels = 2, .pixels = {0, 0}});
      },
      "2 channels");
  expect_throw_containing<ValueError>(
      [&] {
        write_png(dir.file("a.png"), Image{.width = 2, .height = 1, .channels = 1, .pixels = {0}});
      },
      "1 pixel bytes for a 2x1x1 image");
  expect_throw_containing<IoError>(
      [&] { write_png(dir.file("no/a.png"), Image{.width = 1, .height = 1, .pixels = {0}}); },
      "no");
  EXPECT_FALSE(std::filesystem::exists(dir.file("no")));
  write_file_atomically(dir.file("x.png"), "not a png at all");
  expect_throw_containing<FormatError>([&] { read_png(dir.file("x.png")); }, "not a PNG file");
  write_png(dir.file("t.png"),
            Image{.width = 40, .height = 40, .pixels = std::vector<uint8_t>(1600, 7)});
  const std::string whole = read_file(dir.file("t.png"));
  write_file_atomically(dir.file("t.png"), whole.substr(0, whole.size() / 2));
  expect_throw_containing<FormatError>([&] { read_png(dir.file("t.png")); }, "t.png");
  expect_throw_containing<ValueError>([&] { image_grid(Tensor({2, 3}), 1); }, "[N, H, W]");
  expect_throw_containing<ValueError>(
      [&] {
        image_grid(Tensor({1, 2, 2}), 1, 1.0f, 1.0f);
      },
      "must be below");
}

}  // namespace
}  // namespace nnkit
