#include "nnkit/data/idx.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "data/idx_writer.h"
#include "nnkit/error.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

using testing::idx_elements;
using testing::idx_header;
using testing::ScratchDir;
using testing::write_gzip;
using testing::write_plain;

// Runs `read`, expects a FormatError whose message names the file and contains `needle`.
template <typename Read>
void expect_format_error(Read read, const std::string& path, const std::string& needle) {
  try {
    read(path);
    ADD_FAILURE() << "no error for " << path << " (expected '" << needle << "')";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// 3000 bytes that deflate does not squeeze to nothing.
std::vector<uint8_t> varied_pixels() {
  std::vector<uint8_t> pixels(3000);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7919 % 251);
  return pixels;
}

// Two 2x3 images: every pixel value from 0 to 255 somewhere, and their exact quotients.
const std::vector<uint8_t> kPixels = {0, 1, 51, 127, 128, 255, 255, 254, 200, 100, 3, 0};

class IdxFiles : public ::testing::TestWithParam<bool> {
 protected:
  // Plain or gzip, by the test's parameter.
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string path = scratch_.file(name + (GetParam() ? ".gz" : ""));
    if (GetParam()) {
      write_gzip(path, bytes);
    } else {
      write_plain(path, bytes);
    }
    return path;
  }
  ScratchDir scratch_;
};

TEST_P(IdxFiles, ReadsUint8ImagesScaledToUnitRangeWithOneChannel) {
  const std::string path = write("images", idx_header(0x08, {2, 2, 3}) + idx_elements(kPixels));
  Tensor images = read_idx_images(path);
  EXPECT_EQ(images.shape(), (Shape{2, 1, 2, 3}));
  for (std::size_t i = 0; i < kPixels.size(); ++i) {
    EXPECT_EQ(images[static_cast<int64_t>(i)], static_cast<float>(kPixels[i]) / 255.0f) << i;
  }
  EXPECT_EQ(images[5], 1.0f);
  EXPECT_EQ(images[0], 0.0f);
}

TEST_P(IdxFiles, ReadsLabelsAsClassIndices) {
  const std::vector<uint8_t> labels = {9, 0, 3, 3, 255};
  const std::string path = write("labels", idx_header(0x08, {5}) + idx_elements(labels));
  Tensor y = read_idx_labels(path);
  EXPECT_EQ(y.shape(), (Shape{5}));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{9, 0, 3, 3, 255}));
}

TEST_P(IdxFiles, ReadsEveryElementTypeBigEndianWithItsShape) {
  {
    IdxArray a = read_idx(
        write("i8", idx_header(0x09, {4}) + idx_elements(std::vector<int8_t>{-128, -1, 0, 127})));
    EXPECT_EQ(a.type, IdxType::kInt8);
    EXPECT_EQ(a.values.shape(), (Shape{4}));
    EXPECT_EQ(a.values.to_vector(), (std::vector<float>{-128, -1, 0, 127}));
  }
  {
    IdxArray a = read_idx(write("i16", idx_header(0x0B, {2, 2}) + idx_elements(std::vector<int16_t>{
                                                                      -32768, -2, 258, 32767})));
    EXPECT_EQ(a.type, IdxType::kInt16);
    EXPECT_EQ(a.values.shape(), (Shape{2, 2}));
    EXPECT_EQ(a.values.to_vector(), (std::vector<float>{-32768, -2, 258, 32767}));
  }
  {
    IdxArray a =
        read_idx(write("i32", idx_header(0x0C, {1, 3, 1}) +
                                  idx_elements(std::vector<int32_t>{-70000, 16777216, 5})));
    EXPECT_EQ(a.type, IdxType::kInt32);
    EXPECT_EQ(a.values.shape(), (Shape{1, 3, 1}));
    EXPECT_EQ(a.values.to_vector(), (std::vector<float>{-70000, 16777216, 5}));
  }
  {
    IdxArray a = read_idx(write(
        "f32", idx_header(0x0D, {3}) + idx_elements(std::vector<float>{-1.5f, 3.25e-8f, 1e30f})));
    EXPECT_EQ(a.type, IdxType::kFloat32);
    EXPECT_EQ(a.values.to_vector(), (std::vector<float>{-1.5f, 3.25e-8f, 1e30f}));
  }
  {
    IdxArray a = read_idx(
        write("f64", idx_header(0x0E, {2}) + idx_elements(std::vector<double>{0.1, -2.5})));
    EXPECT_EQ(a.type, IdxType::kFloat64);
    EXPECT_EQ(a.values.to_vector(), (std::vector<float>{0.1f, -2.5f}));
  }
  {
    IdxArray a = read_idx(write("u8", idx_header(0x08, {2, 1, 1, 1, 1, 1, 1, 1}) +
                                          idx_elements(std::vector<uint8_t>{7, 200})));
    EXPECT_EQ(a.values.shape(), (Shape{2, 1, 1, 1, 1, 1, 1, 1}));
    EXPECT_EQ(a.values.to_vector(), (std::vector<float>{7, 200}));  // not scaled
  }
}

TEST_P(IdxFiles, TakesFourDimensionalImagesAsNchwAndFloatImagesUnscaled) {
  Tensor nchw =
      read_idx_images(write("nchw", idx_header(0x08, {1, 2, 2, 3}) + idx_elements(kPixels)));
  EXPECT_EQ(nchw.shape(), (Shape{1, 2, 2, 3}));
  EXPECT_EQ(nchw[2], 51.0f / 255.0f);
  Tensor floats = read_idx_images(
      write("f32", idx_header(0x0D, {1, 1, 2}) + idx_elements(std::vector<float>{-0.5f, 7.0f})));
  EXPECT_EQ(floats.shape(), (Shape{1, 1, 1, 2}));
  EXPECT_EQ(floats.to_vector(), (std::vector<float>{-0.5f, 7.0f}));
}

TEST_P(IdxFiles, ReadsZeroImages) {
  Tensor images = read_idx_images(write("empty", idx_header(0x08, {0, 28, 28})));
  EXPECT_EQ(images.shape(), (Shape{0, 1, 28, 28}));
}

TEST_P(IdxFiles, RefusesAWrongMagicNumber) {
  std::string bytes = idx_header(0x08, {2, 2, 3}) + idx_elements(kPixels);
  bytes[0] = 0x01;
  expect_format_error(read_idx, write("magic", bytes), "not an IDX file");
  // An .npy file, or any text, is not taken for an IDX file.
  expect_format_error(read_idx_images, write("text", "hello, world"), "0x68 0x65");
  expect_format_error(read_idx_labels, write("empty", ""), "holds 0 bytes");
  expect_format_error(read_idx_labels, write("short", std::string(3, '\0')), "holds 3 bytes");
}

TEST_P(IdxFiles, RefusesAnUnknownTypeByte) {
  for (uint8_t type : {0x00, 0x07, 0x0A, 0x0F, 0xFF}) {
    std::string bytes = idx_header(type, {2, 2, 3}) + idx_elements(kPixels);
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02X", type);
    expect_format_error(read_idx, write("type", bytes),
                        std::string("unknown IDX element type ") + hex);
  }
}

TEST_P(IdxFiles, RefusesZeroOrTooManyDimensions) {
  expect_format_error(read_idx, write("d0", idx_header(0x08, {}) + "x"), "gives 0 dimensions");
  const std::vector<uint32_t> nine(9, 1);
  expect_format_error(read_idx, write("d9", idx_header(0x08, nine) + "x"), "gives 9 dimensions");
}

TEST_P(IdxFiles, RefusesAHeaderCutShort) {
  std::string bytes = idx_header(0x08, {2, 2, 3});
  bytes.resize(9);
  expect_format_error(read_idx, write("header", bytes), "ends inside the IDX header (5 of the 12");
}

TEST_P(IdxFiles, RefusesTruncatedData) {
  std::string bytes = idx_header(0x08, {2, 2, 3}) + idx_elements(kPixels);
  bytes.pop_back();
  expect_format_error(read_idx_images, write("truncated", bytes),
                      "truncated: the IDX dimensions [2, 2, 3] of uint8 (0x08) need 12 data "
                      "bytes, but it holds 11");
  expect_format_error(read_idx_labels, write("nodata", idx_header(0x0C, {3})), "holds 0");
}

TEST_P(IdxFiles, RefusesTrailingBytes) {
  const std::string bytes = idx_header(0x08, {2, 2, 3}) + idx_elements(kPixels) + "xyz";
  expect_format_error(read_idx_images, write("trailing", bytes),
                      "3 unexpected bytes after the data");
}

TEST_P(IdxFiles, RefusesHugeDimensionsWithoutAllocatingThem) {
  // The product overflows 64 bits.
  expect_format_error(read_idx, write("overflow", idx_header(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 2})),
                      "product overflows");
  // 4 TB claimed, 3 bytes there: refused as truncated; the buffer grows only with the data.
  expect_format_error(read_idx_images,
                      write("huge", idx_header(0x08, {0xFFFFFFFF, 1000, 1000}) + "abc"),
                      "need 4294967295000000 data bytes, but it holds 3");
}

TEST_P(IdxFiles, ImagesMustBeThreeOrFourDimensionalBytesOrFloats) {
  expect_format_error(read_idx_images,
                      write("flat", idx_header(0x08, {2, 6}) + idx_elements(kPixels)),
                      "expected images as a 3-D IDX file [N, H, W] (or 4-D [N, C, H, W]), got 2 "
                      "dimensions [2, 6]");
  expect_format_error(
      read_idx_images,
      write("i16", idx_header(0x0B, {1, 1, 2}) + idx_elements(std::vector<int16_t>{1, 2})),
      "images of int16 (0x0B) are not supported");
}

TEST_P(IdxFiles, LabelsMustBeOneDimensionalNonNegativeIntegers) {
  expect_format_error(
      read_idx_labels,
      write("2d", idx_header(0x08, {2, 1}) + idx_elements(std::vector<uint8_t>{1, 2})),
      "expected labels as a 1-D IDX file [N], got 2 dimensions [2, 1]");
  expect_format_error(
      read_idx_labels,
      write("float", idx_header(0x0D, {2}) + idx_elements(std::vector<float>{1.0f, 2.0f})),
      "labels of float32 (0x0D) are not supported");
  expect_format_error(
      read_idx_labels,
      write("negative", idx_header(0x09, {3}) + idx_elements(std::vector<int8_t>{1, 2, -3})),
      "label -3 at index 2 is not a class index");
  expect_format_error(
      read_idx_labels,
      write("big", idx_header(0x0C, {2}) + idx_elements(std::vector<int32_t>{0, 16777217})),
      "label 16777217 at index 1");
  Tensor y = read_idx_labels(
      write("i32", idx_header(0x0C, {2}) + idx_elements(std::vector<int32_t>{16777215, 1000})));
  EXPECT_EQ(y.to_vector(), (std::vector<float>{16777215, 1000}));
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, IdxFiles, ::testing::Values(false, true),
                         [](const auto& param_info) {
                           return param_info.param ? "Gzip" : "Plain";
                         });

TEST(Idx, RefusesAGzipStreamCutShort) {
  ScratchDir scratch;
  write_gzip(scratch.file("full.gz"),
             idx_header(0x08, {3, 10, 100}) + idx_elements(varied_pixels()));
  std::string gz = read_bytes(scratch.file("full.gz"));
  gz.resize(gz.size() - 10);  // the CRC and length trailer and some of the deflate stream
  write_plain(scratch.file("cut.gz"), gz);
  expect_format_error(read_idx_images, scratch.file("cut.gz"), "gzip stream ends early");
}

TEST(Idx, RefusesCorruptGzipData) {
  ScratchDir scratch;
  write_gzip(scratch.file("full.gz"),
             idx_header(0x08, {3, 10, 100}) + idx_elements(varied_pixels()));
  std::string gz = read_bytes(scratch.file("full.gz"));
  gz[gz.size() - 6] ^= 0x55;  // inside the CRC-32 of the trailer
  write_plain(scratch.file("bad.gz"), gz);
  expect_format_error(read_idx_images, scratch.file("bad.gz"), "corrupt gzip data");
}

TEST(Idx, MissingFileIsAnIoErrorNamingIt) {
  ScratchDir scratch;
  const std::string path = scratch.file("nope.gz");
  try {
    read_idx(path);
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open '" + path + "'"), std::string::npos)
        << e.what();
  }
}

TEST(Idx, NamesTypesForMessages) {
  EXPECT_EQ(idx_type_name(IdxType::kUint8), "uint8 (0x08)");
  EXPECT_EQ(idx_type_name(IdxType::kFloat64), "float64 (0x0E)");
}

// Debian's dataset-fashion-mnist (scripts/setup installs it).
TEST(Idx, ReadsFashionMnistTestSet) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  const std::string images_path = dir + "t10k-images-idx3-ubyte.gz";
  const std::string labels_path = dir + "t10k-labels-idx1-ubyte.gz";
  if (!std::filesystem::exists(images_path) || !std::filesystem::exists(labels_path)) {
    GTEST_SKIP() << images_path << " is absent (Debian package dataset-fashion-mnist)";
  }
  Tensor images = read_idx_images(images_path);
  Tensor labels = read_idx_labels(labels_path);
  EXPECT_EQ(images.shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(labels.shape(), (Shape{10000}));
  const auto [lo, hi] = std::minmax_element(images.begin(), images.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
  std::vector<int> per_class(10, 0);
  for (float label : labels) {
    ASSERT_GE(label, 0.0f);
    ASSERT_LE(label, 9.0f);
    ASSERT_EQ(label, static_cast<float>(static_cast<int>(label)));
    ++per_class[static_cast<std::size_t>(label)];
  }
  EXPECT_EQ(per_class, std::vector<int>(10, 1000));
}

}  // namespace
}  // namespace nnkit
