#include "nnkit/io/safetensors.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"
#include "scratch_dir.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::bytes_of;
using testing::ScratchDir;

// Built by hand following the safetensors specification (the python `safetensors` package is
// not installed here) by tests/fixtures/make_io_literals.py, with F16 values from numpy's
// float16 and BF16 values from torch.bfloat16. The JSON lists the tensors in another order than
// their data: c.f16 [0, 20), a.f32 [20, 28), d.bf16 [28, 36), b.f64 [36, 52).
// bf16 values: [1.0, -3.140625, 3.3895313892515355e+38, 9.183549615799121e-41]
constexpr char kMixedSafetensors[] =
    "(\x01\x00\x00\x00\x00\x00\x00{\"d.bf16\":{\"dtype\":\"BF16\",\"shape\":[2,2],"
    "\"data_offsets\":[28,36]},\"__metadata__\":{\"format\":\"pt\",\"nnkit.format\""
    ":\"1\"},\"b.f64\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[36,52]},"
    "\"a.f32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]},\"c.f16\""
    ":{\"dtype\":\"F16\",\"shape\":[10],\"data_offsets\":[0,20]}}     \x00<\x00\xc1"
    "\xff{\x00\x04\x01\x00\xff\x03\x00\x80\x00|\x00\xfc\x00~\x00\x00\xc0\?\x00\x00"
    "\x00\xc0\x80\?I\xc0\x7f\x7f\x01\x00\x9a\x99\x99\x99\x99\x99\xb9\?\x00\x00\x00"
    "\x00\x00\x00\x08\xc0";
constexpr char kReferenceSafetensors[] =
    "\xd0\x00\x00\x00\x00\x00\x00\x00{\"__metadata__\":{\"nnkit.format\":\"1\"},\""
    "w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"b\":{\"dtyp"
    "e\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},\"s\":{\"dtype\":\"F32\","
    "\"shape\":[],\"data_offsets\":[24,28]}}      \x00\x00\x80\?\x00\x00\x00@\x00\x00"
    "@@\x00\x00\x80@\x00\x00\x00\?\x00\x00\x00\xbf\x00\x00\xe0@";

std::string u64_le(uint64_t v) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

// A safetensors file with `header` (not padded) and `data`.
std::string make_file(const std::string& header, const std::string& data) {
  return u64_le(header.size()) + header + data;
}

// One header entry: "name": {"dtype": ..., "shape": ..., "data_offsets": [begin, end]}.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  uint64_t begin, uint64_t end) {
  return fmt::format(R"("{}": {{"dtype": "{}", "shape": {}, "data_offsets": [{}, {}]}})", name,
                     dtype, shape, begin, end);
}

// A header object of the given entries. (Not "{" + ...: GCC 12 at -O3 reports a false
// -Wrestrict in operator+(const char*, std::string&&), GCC bug 105329.)
std::string header_of(std::initializer_list<std::string> entries) {
  return fmt::format("{{{}}}", fmt::join(entries, ", "));
}

// Parses `bytes` as "X.safetensors", which must fail with a FormatError; returns its message.
std::string st_error(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "X.safetensors");
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("X.safetensors: ", 0), 0u)
        << "message does not name the file: " << message;
    return message;
  }
  ADD_FAILURE() << "expected a FormatError";
  return "";
}

#define EXPECT_ST_ERROR(bytes, substring)                                       \
  do {                                                                          \
    const std::string message_ = st_error(bytes);                               \
    EXPECT_NE(message_.find(substring), std::string::npos)                      \
        << "message: " << message_ << "\nexpected to contain: " << (substring); \
  } while (0)

std::string f32_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

void expect_same_bits(float actual, float expected, const std::string& what) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << what;
  } else {
    EXPECT_EQ(std::bit_cast<uint32_t>(actual), std::bit_cast<uint32_t>(expected))
        << what << ": " << actual << " vs " << expected;
  }
}

TEST(Safetensors, ReadsEveryDtypeOfAHandMadeFileInDataOrder) {
  const SafetensorsFile file = parse_safetensors(bytes_of(kMixedSafetensors), "m.safetensors");
  EXPECT_EQ(file.metadata,
            (std::map<std::string, std::string>{{"format", "pt"}, {"nnkit.format", "1"}}));
  ASSERT_EQ(file.tensors.size(), 4u);
  EXPECT_EQ(file.tensors[0].first, "c.f16");
  EXPECT_EQ(file.tensors[1].first, "a.f32");
  EXPECT_EQ(file.tensors[2].first, "d.bf16");
  EXPECT_EQ(file.tensors[3].first, "b.f64");

  const Tensor& f16 = file.tensors[0].second;
  EXPECT_EQ(f16.shape(), Shape{10});
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> expected_f16 = {1.0f,
                                           -2.5f,
                                           65504.0f,
                                           std::ldexp(1.0f, -14),
                                           std::ldexp(1.0f, -24),
                                           std::ldexp(1023.0f, -24),
                                           -0.0f,
                                           inf,
                                           -inf,
                                           std::numeric_limits<float>::quiet_NaN()};
  for (int i = 0; i < 10; ++i) expect_same_bits(f16[i], expected_f16[i], fmt::format("f16[{}]", i));

  EXPECT_EQ(file.tensors[1].second.to_vector(), (std::vector<float>{1.5f, -2.0f}));

  const Tensor& bf16 = file.tensors[2].second;
  EXPECT_EQ(bf16.shape(), (Shape{2, 2}));
  const std::vector<float> expected_bf16 = {1.0f, -3.140625f, 3.3895313892515355e38f,
                                            std::ldexp(1.0f, -133)};
  for (int i = 0; i < 4; ++i) {
    expect_same_bits(bf16[i], expected_bf16[i], fmt::format("bf16[{}]", i));
  }

  EXPECT_EQ(file.tensors[3].second.to_vector(), (std::vector<float>{0.1f, -3.0f}));
  EXPECT_EQ(file.find("a.f32"), &file.tensors[1].second);
  EXPECT_EQ(file.find("nope"), nullptr);
}

// Reference: (-1)^s · 2^(e-15) · (1 + m/1024), or 2^-14 · m/1024 for e = 0, in double.
TEST(Safetensors, DecodesAllF16BitPatterns) {
  std::string data;
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    data += static_cast<char>(bits & 0xFF);
    data += static_cast<char>(bits >> 8);
  }
  const SafetensorsFile file =
      parse_safetensors(make_file(header_of({entry("h", "F16", "[65536]", 0, 131072)}), data), "h");
  const Tensor& h = file.tensors.at(0).second;
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const int sign = bits >> 15;
    const int exponent = (bits >> 10) & 0x1F;
    const int mantissa = bits & 0x3FF;
    double expected;
    if (exponent == 0x1F) {
      expected = mantissa == 0 ? std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::quiet_NaN();
    } else if (exponent == 0) {
      expected = std::ldexp(mantissa / 1024.0, -14);
    } else {
      expected = std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
    }
    if (sign) expected = -expected;
    expect_same_bits(h[bits], static_cast<float>(expected), fmt::format("F16 0x{:04x}", bits));
    if (HasFailure()) return;
  }
}

// Reference: (-1)^s · 2^(e-127) · (1 + m/128), or 2^-126 · m/128 for e = 0, in double.
TEST(Safetensors, DecodesAllBF16BitPatterns) {
  std::string data;
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    data += static_cast<char>(bits & 0xFF);
    data += static_cast<char>(bits >> 8);
  }
  const SafetensorsFile file = parse_safetensors(
      make_file(header_of({entry("b", "BF16", "[65536]", 0, 131072)}), data), "b");
  const Tensor& b = file.tensors.at(0).second;
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const int sign = bits >> 15;
    const int exponent = (bits >> 7) & 0xFF;
    const int mantissa = bits & 0x7F;
    double expected;
    if (exponent == 0xFF) {
      expected = mantissa == 0 ? std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::quiet_NaN();
    } else if (exponent == 0) {
      expected = std::ldexp(mantissa / 128.0, -126);
    } else {
      expected = std::ldexp(1.0 + mantissa / 128.0, exponent - 127);
    }
    if (sign) expected = -expected;
    expect_same_bits(b[bits], static_cast<float>(expected), fmt::format("BF16 0x{:04x}", bits));
    if (HasFailure()) return;
  }
}

TEST(Safetensors, DecodesF64) {
  const std::vector<double> values = {0.0, -1.5, 1e-3, 1e300, -1e-300, 16777217.0};
  const std::string data(reinterpret_cast<const char*>(values.data()), values.size() * 8);
  const SafetensorsFile file =
      parse_safetensors(make_file(header_of({entry("d", "F64", "[2, 3]", 0, 48)}), data), "d");
  const Tensor& d = file.tensors.at(0).second;
  EXPECT_EQ(d.shape(), (Shape{2, 3}));
  EXPECT_EQ(d.to_vector(),
            (std::vector<float>{0.0f, -1.5f, 1e-3f, std::numeric_limits<float>::infinity(), -0.0f,
                                16777216.0f}));
}

SafetensorsFile reference_file() {
  SafetensorsFile file;
  file.metadata["nnkit.format"] = "1";
  file.tensors.emplace_back("w", Tensor({2, 2}, {1, 2, 3, 4}));
  file.tensors.emplace_back("b", Tensor({2}, {0.5f, -0.5f}));
  file.tensors.emplace_back("s", Tensor(Shape{}, {7}));
  return file;
}

TEST(Safetensors, SerializesExactlyLikeTheHandMadeReference) {
  EXPECT_EQ(serialize_safetensors(reference_file()), bytes_of(kReferenceSafetensors));
}

TEST(Safetensors, ParsesTheReference) {
  const SafetensorsFile file = parse_safetensors(bytes_of(kReferenceSafetensors), "r");
  const SafetensorsFile expected = reference_file();
  EXPECT_EQ(file.metadata, expected.metadata);
  ASSERT_EQ(file.tensors.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(file.tensors[i].first, expected.tensors[i].first);
    EXPECT_EQ(file.tensors[i].second.shape(), expected.tensors[i].second.shape());
    EXPECT_EQ(file.tensors[i].second.to_vector(), expected.tensors[i].second.to_vector());
  }
}

TEST(Safetensors, RoundTripsThroughAFileInTheGivenOrder) {
  ScratchDir dir;
  SafetensorsFile file;
  file.metadata["nnkit.spec"] = R"({"layers": [{"type": "Dense", "units": 1}]})";
  file.metadata["note"] = "température, 温度\n\"quoted\"";
  file.tensors.emplace_back("z.weight", Tensor({3, 2}, {1, -2, 3.25f, 1e-30f, -0.0f, 7}));
  file.tensors.emplace_back("a.scalar", Tensor(Shape{}, {42}));
  file.tensors.emplace_back("m.empty", Tensor({0, 3}));
  file.tensors.emplace_back("b.also_empty", Tensor({0}));
  file.tensors.emplace_back("c.bias", Tensor({2}, {std::numeric_limits<float>::infinity(), -1}));
  const std::string path = dir.file("model.safetensors");
  write_safetensors(path, file);
  const SafetensorsFile back = read_safetensors(path);
  EXPECT_EQ(back.metadata, file.metadata);
  ASSERT_EQ(back.tensors.size(), file.tensors.size());
  for (std::size_t i = 0; i < file.tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, file.tensors[i].first);
    EXPECT_EQ(back.tensors[i].second.shape(), file.tensors[i].second.shape());
    EXPECT_EQ(back.tensors[i].second.to_vector(), file.tensors[i].second.to_vector());
  }
  EXPECT_EQ(dir.entry_count(), 1u);
}

TEST(Safetensors, HeaderIsPaddedWithSpacesAndHasNoEmptyMetadata) {
  for (int n = 0; n < 9; ++n) {
    SafetensorsFile file;
    file.tensors.emplace_back(std::string(static_cast<std::size_t>(n) + 1, 'x'), Tensor({1}));
    const std::string bytes = serialize_safetensors(file);
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = header_size << 8 | static_cast<uint8_t>(bytes[i]);
    EXPECT_EQ(header_size % 8, 0u);
    ASSERT_EQ(bytes.size(), 8 + header_size + 4);
    const std::string header = bytes.substr(8, header_size);
    EXPECT_EQ(header.find("__metadata__"), std::string::npos) << header;
    // Only the padding follows the closing brace, and no more of it than needed.
    const std::size_t brace = header.find_last_not_of(' ');
    EXPECT_EQ(header[brace], '}');
    EXPECT_LT(header.size() - brace - 1, 8u) << header;
  }
}

TEST(Safetensors, AFileWithoutTensors) {
  const std::string bytes = serialize_safetensors({});
  EXPECT_EQ(bytes, u64_le(8) + "{}      ");
  const SafetensorsFile file = parse_safetensors(bytes, "e");
  EXPECT_TRUE(file.tensors.empty());
  EXPECT_TRUE(file.metadata.empty());
}

TEST(Safetensors, ZeroSizeTensorsMaySitAnywhere) {
  const std::string header =
      header_of({entry("a", "F32", "[0]", 0, 0), entry("b", "F32", "[1]", 0, 4),
                 entry("c", "F16", "[2, 0]", 4, 4)});
  const SafetensorsFile file = parse_safetensors(make_file(header, f32_bytes({5})), "z");
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].first, "a");
  EXPECT_EQ(file.tensors[1].first, "b");
  EXPECT_EQ(file.tensors[2].first, "c");
  EXPECT_EQ(file.tensors[2].second.shape(), (Shape{2, 0}));
}

TEST(Safetensors, SerializeRefusesBadNames) {
  SafetensorsFile duplicate;
  duplicate.tensors.emplace_back("w", Tensor({1}));
  duplicate.tensors.emplace_back("w", Tensor({1}));
  EXPECT_THROW(serialize_safetensors(duplicate), ValueError);
  SafetensorsFile reserved;
  reserved.tensors.emplace_back("__metadata__", Tensor({1}));
  EXPECT_THROW(serialize_safetensors(reserved), ValueError);
  SafetensorsFile not_utf8;
  not_utf8.tensors.emplace_back("\xff", Tensor({1}));
  EXPECT_THROW(serialize_safetensors(not_utf8), ValueError);
  SafetensorsFile unset;
  unset.tensors.emplace_back("t", Tensor());
  EXPECT_THROW(serialize_safetensors(unset), ValueError);
}

TEST(Safetensors, WriteIntoAMissingDirectoryThrowsIoError) {
  ScratchDir dir;
  EXPECT_THROW(write_safetensors(dir.file("missing/m.safetensors"), reference_file()), IoError);
}

TEST(Safetensors, ReadNamesTheFile) {
  ScratchDir dir;
  const std::string path = dir.file("m.safetensors");
  EXPECT_THROW(read_safetensors(path), IoError);
  write_file_atomically(path, "tiny");
  try {
    read_safetensors(path);
    ADD_FAILURE() << "expected a FormatError";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": file is too short (4 bytes)", 0), 0u)
        << e.what();
  }
}

TEST(Safetensors, RefusesABadHeaderLength) {
  EXPECT_ST_ERROR("", "file is too short (0 bytes)");
  EXPECT_ST_ERROR(std::string(7, '\0'), "file is too short (7 bytes)");
  EXPECT_ST_ERROR(u64_le(uint64_t{1} << 63) + "{}",
                  "header length 9223372036854775808 is larger than the limit of 100000000 bytes");
  EXPECT_ST_ERROR(u64_le(100'000'001) + "{}", "is larger than the limit");
  EXPECT_ST_ERROR(u64_le(100) + "{}          ",
                  "header length 100 runs past the end of the file (12 bytes after the length)");
}

TEST(Safetensors, RefusesAHeaderThatIsNotAJsonObject) {
  EXPECT_ST_ERROR(make_file("", ""), "header is not valid JSON");
  EXPECT_ST_ERROR(make_file(R"({"a": )", ""), "header is not valid JSON: parse error");
  EXPECT_ST_ERROR(make_file(std::string("{}\0\0", 4), ""),
                  "header is not valid JSON: NUL byte at offset 2");
  EXPECT_ST_ERROR(make_file(std::string("{}\0garbage", 10), ""), "NUL byte");
  EXPECT_ST_ERROR(make_file("{} {}", ""), "header is not valid JSON");
  EXPECT_ST_ERROR(make_file("[1, 2]", ""), "header must be a JSON object, got array");
  EXPECT_ST_ERROR(make_file(R"("text")", ""), "header must be a JSON object, got string");
}

TEST(Safetensors, RefusesDuplicateNames) {
  const std::string header =
      header_of({entry("a", "F32", "[1]", 0, 4), entry("a", "F32", "[1]", 4, 8)});
  EXPECT_ST_ERROR(make_file(header, f32_bytes({1, 2})), "key \"a\" appears twice");
  EXPECT_ST_ERROR(make_file(R"({"__metadata__": {"k": "1", "k": "2"}})", ""),
                  "key \"k\" appears twice");
}

TEST(Safetensors, RefusesBadMetadata) {
  EXPECT_ST_ERROR(make_file(R"({"__metadata__": ["a"]})", ""),
                  "\"__metadata__\" must be an object of strings, got [\"a\"]");
  EXPECT_ST_ERROR(make_file(R"({"__metadata__": null})", ""), "must be an object of strings");
  EXPECT_ST_ERROR(make_file(R"({"__metadata__": {"ok": "yes", "epoch": 3}})", ""),
                  "\"__metadata__\" value of \"epoch\" must be a string, got 3");
  EXPECT_ST_ERROR(make_file(R"({"__metadata__": {"spec": {"a": 1}}})", ""),
                  "value of \"spec\" must be a string");
}

TEST(Safetensors, RefusesBadEntries) {
  const std::string data = f32_bytes({1, 2});
  auto with = [&](const std::string& tensor) {
    return make_file(fmt::format("{{\"t\": {}}}", tensor), data);
  };
  EXPECT_ST_ERROR(with("3"), "tensor 't': expected an object with dtype, shape and data_offsets");
  EXPECT_ST_ERROR(with(R"({"shape": [2], "data_offsets": [0, 8]})"),
                  "tensor 't': 'dtype' is missing");
  EXPECT_ST_ERROR(with(R"({"dtype": "F32", "data_offsets": [0, 8]})"), "'shape' is missing");
  EXPECT_ST_ERROR(with(R"({"dtype": "F32", "shape": [2]})"), "'data_offsets' is missing");
  EXPECT_ST_ERROR(with(R"({"dtype": 32, "shape": [2], "data_offsets": [0, 8]})"),
                  "dtype must be a string, got 32");
}

TEST(Safetensors, RefusesUnsupportedDtypesNamingTensorAndDtype) {
  const std::string data = f32_bytes({1, 2});
  EXPECT_ST_ERROR(make_file(header_of({entry("layers.0.weight", "I64", "[1]", 0, 8)}), data),
                  "X.safetensors: tensor 'layers.0.weight': dtype 'I64' is not supported; "
                  "expected F32, F64, F16 or BF16");
  EXPECT_ST_ERROR(make_file(header_of({entry("t", "F8_E4M3", "[8]", 0, 8)}), data),
                  "dtype 'F8_E4M3' is not supported");
  EXPECT_ST_ERROR(make_file(header_of({entry("t", "f32", "[2]", 0, 8)}), data),
                  "dtype 'f32' is not supported");
}

TEST(Safetensors, RefusesBadShapes) {
  const std::string data = f32_bytes({1, 2});
  auto with_shape = [&](const std::string& shape) {
    return make_file(header_of({entry("t", "F32", shape, 0, 8)}), data);
  };
  EXPECT_ST_ERROR(with_shape(R"("2")"), "tensor 't': shape must be an array, got \"2\"");
  EXPECT_ST_ERROR(with_shape("[-2]"), "shape [-2] must hold non-negative integers");
  EXPECT_ST_ERROR(with_shape("[2.0]"), "must hold non-negative integers");
  EXPECT_ST_ERROR(with_shape("[[2]]"), "must hold non-negative integers");
  EXPECT_ST_ERROR(with_shape("[18446744073709551615]"), "is too large");
  EXPECT_ST_ERROR(with_shape("[4294967296, 4294967296]"), "is too large");
  EXPECT_ST_ERROR(with_shape("[4611686018427387904]"), "is too large");  // fits, bytes do not
  EXPECT_ST_ERROR(with_shape("[18446744073709551616]"), "must hold non-negative integers");
}

TEST(Safetensors, RefusesBadDataOffsets) {
  const std::string data = f32_bytes({1, 2});
  auto with_offsets = [&](const std::string& offsets) {
    return make_file(
        fmt::format(R"({{"t": {{"dtype": "F32", "shape": [2], "data_offsets": {}}}}})", offsets),
        data);
  };
  EXPECT_ST_ERROR(with_offsets("[0]"), "data_offsets must be [begin, end]");
  EXPECT_ST_ERROR(with_offsets("[0, 4, 8]"), "data_offsets must be [begin, end]");
  EXPECT_ST_ERROR(with_offsets("[-1, 7]"), "data_offsets must be [begin, end]");
  EXPECT_ST_ERROR(with_offsets(R"({"begin": 0, "end": 8})"), "data_offsets must be [begin, end]");
  EXPECT_ST_ERROR(with_offsets("[8, 0]"), "tensor 't': data_offsets [8, 0] has begin after end");
  EXPECT_ST_ERROR(with_offsets("[0, 16]"),
                  "data_offsets [0, 16] run past the end of the data (8 bytes)");
  EXPECT_ST_ERROR(with_offsets("[0, 18446744073709551615]"), "run past the end of the data");
  EXPECT_ST_ERROR(with_offsets("[0, 4]"),
                  "data_offsets [0, 4] span 4 bytes, but shape [2] of F32 needs 8");
  const std::string f16 = R"({"h": {"dtype": "F16", "shape": [2], "data_offsets": [0, 8]}})";
  EXPECT_ST_ERROR(make_file(f16, data), "span 8 bytes, but shape [2] of F16 needs 4");
}

TEST(Safetensors, RefusesOffsetsThatDoNotTileTheData) {
  const std::string data = f32_bytes({1, 2, 3});
  EXPECT_ST_ERROR(
      make_file(header_of({entry("a", "F32", "[2]", 0, 8), entry("b", "F32", "[2]", 4, 12)}), data),
      "tensor 'b' (data_offsets [4, 12]) overlaps tensor 'a' (data_offsets [0, 8])");
  EXPECT_ST_ERROR(
      make_file(header_of({entry("a", "F32", "[2]", 0, 8), entry("b", "F32", "[2]", 0, 8),
                           entry("c", "F32", "[1]", 8, 12)}),
                data),
      "overlaps");
  EXPECT_ST_ERROR(
      make_file(header_of({entry("a", "F32", "[1]", 0, 4), entry("b", "F32", "[1]", 8, 12)}), data),
      "data bytes [4, 8) before tensor 'b' belong to no tensor");
  EXPECT_ST_ERROR(make_file(header_of({entry("a", "F32", "[2]", 4, 12)}), data),
                  "data bytes [0, 4) before tensor 'a' belong to no tensor");
  EXPECT_ST_ERROR(make_file(header_of({entry("a", "F32", "[2]", 0, 8)}), data),
                  "the last 4 data bytes (of 12) belong to no tensor");
  EXPECT_ST_ERROR(make_file("{}", data), "the last 12 data bytes (of 12) belong to no tensor");
  // A hand-made file cut short or with a byte appended.
  const std::string mixed = bytes_of(kMixedSafetensors);
  EXPECT_ST_ERROR(mixed.substr(0, mixed.size() - 1), "run past the end of the data (51 bytes)");
  EXPECT_ST_ERROR(mixed + "x", "the last 1 data bytes (of 53) belong to no tensor");
}

TEST(Safetensors, MutatedFilesParseOrThrowFormatError) {
  std::mt19937 rng(20240601);
  int parsed = 0;
  for (const std::string& original :
       {bytes_of(kMixedSafetensors), bytes_of(kReferenceSafetensors)}) {
    for (int trial = 0; trial < 3000; ++trial) {
      try {
        parse_safetensors(testing::mutate_bytes(original, rng), "fuzz.safetensors");
        ++parsed;
      } catch (const FormatError&) {
      }
    }
  }
  EXPECT_GT(parsed, 0);  // some edits only touch the data
}

}  // namespace
}  // namespace nnkit
