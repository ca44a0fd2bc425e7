#include "nnkit/data/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"
#include "scratch_dir.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::bytes_of;
using testing::ScratchDir;

// Made by numpy: tests/fixtures/make_io_literals.py prints these (np.save, and
// np.lib.format.write_array for versions 2.0 and 3.0).
constexpr char kNumpyF32[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3"
    "), }                                                          \n\x00\x00\x00\?"
    "\x00\x00\xa0\xbf\x00\x00@@o\x12\x83:\x00\xe0\x7fG\x00\x00\x00\x80";
constexpr char kNumpyF32Vector[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2,),"
    " }                                                            \n\x00\x00\x80\?"
    "\x00\x00\x00\xc0";
constexpr char kNumpyManyAxes[] =
    "\x93NUMPY\x01\x00\xb6\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1"
    ", 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), }                               "
    "                                                    \n\x00\x00 @";
constexpr char kNumpyLongFirstAxis[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1234"
    "56789, 0), }                                                  \n";
constexpr char kNumpyF64[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (4,),"
    " }                                                            \n\x00\x00\x00\x00"
    "\x00\x00\xf8\?\x00\x00\x00\x00\x00\x00\x02\xc0\x9a\x99\x99\x99\x99\x99\xb9\?\x9c"
    "u\x00\x88<\xe4"
    "7~";
constexpr char kNumpyU8[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (3,),"
    " }                                                            \n\x00\x07\xff";
constexpr char kNumpyI32[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2"
    "), }                                                          \n\xfd\xff\xff\xff"
    "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x80";
constexpr char kNumpyI64[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (2,),"
    " }                                                            \n\xfb\xff\xff\xff"
    "\xff\xff\xff\xff\x00\x00\x00\x00\x00\x01\x00\x00";
constexpr char kNumpyScalar[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), }"
    "                                                              \n\x00\x00`@";
constexpr char kNumpyEmpty[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3"
    "), }                                                          \n";
constexpr char kNumpyV2[] =
    "\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape"
    "': (2,), }                                                          \n\x00\x00"
    "\x80\?\x00\x00\x00@";
constexpr char kNumpyV3[] =
    "\x93NUMPY\x03\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape"
    "': (2,), }                                                          \n\x00\x00"
    "\x80\?\x00\x00\x00@";
constexpr char kNumpyFortran[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3)"
    ", }                                                           \n\x00\x00\x80\?"
    "\x00\x00\x80\?\x00\x00\x80\?\x00\x00\x80\?\x00\x00\x80\?\x00\x00\x80\?";
constexpr char kNumpyBigEndian[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '>f4', 'fortran_order': False, 'shape': (1,),"
    " }                                                            \n\?\x80\x00\x00";

// Parses `bytes` as "X.npy", which must fail with a FormatError; returns its message.
std::string npy_error(const std::string& bytes) {
  try {
    parse_npy(bytes, "X.npy");
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("X.npy: ", 0), 0u) << "message does not name the file: " << message;
    return message;
  }
  ADD_FAILURE() << "expected a FormatError";
  return "";
}

#define EXPECT_NPY_ERROR(bytes, substring)                                      \
  do {                                                                          \
    const std::string message_ = npy_error(bytes);                              \
    EXPECT_NE(message_.find(substring), std::string::npos)                      \
        << "message: " << message_ << "\nexpected to contain: " << (substring); \
  } while (0)

// A .npy file of format `major`.0 with `dict` as its header, padded as numpy pads it.
std::string make_npy(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t preamble = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  for (std::size_t i = 0; i < length_bytes; ++i) {
    out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  }
  return out + header + data;
}

std::string f32_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

const std::string kF32Dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
const std::string k24Bytes = f32_bytes({1, 2, 3, 4, 5, 6});

TEST(Npy, ReadsFloat32WrittenByNumpy) {
  const Tensor t = parse_npy(bytes_of(kNumpyF32), "a.npy");
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{0.5f, -1.25f, 3.0f, 1e-3f, 65504.0f, -0.0f}));
  EXPECT_TRUE(std::signbit(t[5]));
}

TEST(Npy, ReadsFloat64ConvertedToFloat32) {
  const Tensor t = parse_npy(bytes_of(kNumpyF64), "a.npy");
  EXPECT_EQ(t.shape(), (Shape{4}));
  EXPECT_EQ(t[0], 1.5f);
  EXPECT_EQ(t[1], -2.25f);
  EXPECT_EQ(t[2], 0.1f);                                    // rounded to nearest
  EXPECT_EQ(t[3], std::numeric_limits<float>::infinity());  // 1e300 is beyond float32
}

TEST(Npy, ReadsIntegerLabelsAsFloats) {
  const Tensor u8 = parse_npy(bytes_of(kNumpyU8), "a.npy");
  EXPECT_EQ(u8.shape(), (Shape{3}));
  EXPECT_EQ(u8.to_vector(), (std::vector<float>{0, 7, 255}));
  const Tensor i32 = parse_npy(bytes_of(kNumpyI32), "a.npy");
  EXPECT_EQ(i32.shape(), (Shape{2, 2}));
  EXPECT_EQ(i32.to_vector(), (std::vector<float>{-3, 0, 16777216.0f, -2147483648.0f}));
  const Tensor i64 = parse_npy(bytes_of(kNumpyI64), "a.npy");
  EXPECT_EQ(i64.to_vector(), (std::vector<float>{-5, 1099511627776.0f}));
}

TEST(Npy, ReadsScalarAndEmptyArrays) {
  const Tensor scalar = parse_npy(bytes_of(kNumpyScalar), "a.npy");
  EXPECT_EQ(scalar.shape(), Shape{});
  ASSERT_EQ(scalar.size(), 1);
  EXPECT_EQ(scalar[0], 3.5f);
  const Tensor empty = parse_npy(bytes_of(kNumpyEmpty), "a.npy");
  EXPECT_EQ(empty.shape(), (Shape{0, 3}));
  EXPECT_EQ(empty.size(), 0);
}

TEST(Npy, ReadsFormatVersions2And3) {
  for (const std::string& bytes : {bytes_of(kNumpyV2), bytes_of(kNumpyV3)}) {
    const Tensor t = parse_npy(bytes, "a.npy");
    EXPECT_EQ(t.shape(), (Shape{2}));
    EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2}));
  }
  EXPECT_EQ(parse_npy(make_npy(kF32Dict, k24Bytes, 2), "a.npy").shape(), (Shape{2, 3}));
}

TEST(Npy, WritesExactlyWhatNumpyWrites) {
  ScratchDir dir;
  const std::string path = dir.file("a.npy");
  write_npy(path, Tensor({2, 3}, {0.5f, -1.25f, 3.0f, 1e-3f, 65504.0f, -0.0f}));
  EXPECT_EQ(read_file(path), bytes_of(kNumpyF32));
  write_npy(path, Tensor({2}, {1.0f, -2.0f}));
  EXPECT_EQ(read_file(path), bytes_of(kNumpyF32Vector));
  write_npy(path, Tensor(Shape{}, {3.5f}));
  EXPECT_EQ(read_file(path), bytes_of(kNumpyScalar));
  write_npy(path, Tensor({0, 3}));
  EXPECT_EQ(read_file(path), bytes_of(kNumpyEmpty));
  write_npy(path, Tensor(Shape(15, 1), 2.5f));
  EXPECT_EQ(read_file(path), bytes_of(kNumpyManyAxes));
  write_npy(path, Tensor({123456789, 0}));
  EXPECT_EQ(read_file(path), bytes_of(kNumpyLongFirstAxis));
}

TEST(Npy, RoundTripsShapesAndAlignsTheData) {
  ScratchDir dir;
  const std::vector<Shape> shapes = {{}, {0}, {7}, {0, 3}, {4, 5, 6}, {1, 2, 1, 2, 1, 2, 1, 2}};
  for (const Shape& shape : shapes) {
    Tensor t(shape);
    for (int64_t i = 0; i < t.size(); ++i) t[i] = 0.25f * static_cast<float>(i) - 3.0f;
    const std::string path = dir.file("t.npy");
    write_npy(path, t);
    const std::string bytes = read_file(path);
    const std::size_t header_size = static_cast<unsigned char>(bytes[8]) |
                                    static_cast<std::size_t>(static_cast<unsigned char>(bytes[9]))
                                        << 8;
    EXPECT_EQ((10 + header_size) % 64, 0u) << shape_to_string(shape);
    const Tensor back = read_npy(path);
    EXPECT_EQ(back.shape(), shape);
    EXPECT_EQ(back.to_vector(), t.to_vector());
  }
  EXPECT_EQ(dir.entry_count(), 1u);
}

TEST(Npy, WriteIntoAMissingDirectoryThrowsIoError) {
  ScratchDir dir;
  EXPECT_THROW(write_npy(dir.file("missing/a.npy"), Tensor({2})), IoError);
}

TEST(Npy, WriteRefusesATensorWithoutValues) {
  ScratchDir dir;
  EXPECT_THROW(write_npy(dir.file("a.npy"), Tensor()), ValueError);
  EXPECT_EQ(dir.entry_count(), 0u);
}

TEST(Npy, ReadNamesTheFile) {
  ScratchDir dir;
  const std::string path = dir.file("X.npy");
  try {
    read_npy(path);
    ADD_FAILURE() << "expected an IoError";
  } catch (const IoError& e) {
    EXPECT_EQ(std::string(e.what()), "cannot open '" + path + "': No such file or directory");
  }
  write_file_atomically(path, "not numpy");
  try {
    read_npy(path);
    ADD_FAILURE() << "expected a FormatError";
  } catch (const FormatError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path + ": not a .npy file", 0), 0u) << e.what();
  }
}

TEST(Npy, HeaderKeysMayComeInAnyOrderWithAnySpacing) {
  const std::string dict = "{ \"shape\" :( 2 ,3 , ) ,'fortran_order':False,\n\t'descr' : '<f4' ,}";
  const Tensor t = parse_npy(make_npy(dict, k24Bytes), "a.npy");
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // No trailing comma, no padding at all.
  std::string bare = make_npy("{'descr':'<f4','fortran_order':False,'shape':(2,3)}", "");
  bare.resize(bare.find('}') + 1);
  bare[8] = static_cast<char>(bare.size() - 10);
  EXPECT_EQ(parse_npy(bare + k24Bytes, "a.npy").shape(), (Shape{2, 3}));
}

TEST(Npy, ShapeTuplesOfEveryLength) {
  auto shape_of = [](const std::string& tuple, int64_t count) {
    const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + "}";
    return parse_npy(make_npy(dict, std::string(4 * count, '\0')), "a.npy").shape();
  };
  EXPECT_EQ(shape_of("()", 1), Shape{});
  EXPECT_EQ(shape_of("(3,)", 3), Shape{3});
  EXPECT_EQ(shape_of("(3)", 3), Shape{3});
  EXPECT_EQ(shape_of("(3L,)", 3), Shape{3});  // numpy under Python 2
  EXPECT_EQ(shape_of("(2, 0, 5)", 0), (Shape{2, 0, 5}));
}

TEST(Npy, RefusesWhatIsNotANpyFile) {
  EXPECT_NPY_ERROR("", "not a .npy file");
  EXPECT_NPY_ERROR("PK\x03\x04 a zip archive", "not a .npy file");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x01", 7), "truncated");
  EXPECT_NPY_ERROR(std::string("\x93NUMPY\x02\x00\x10\x00", 10), "truncated");
  std::string v4 = make_npy(kF32Dict, k24Bytes);
  v4[6] = 4;
  EXPECT_NPY_ERROR(v4, "version 4.0 is not supported");
  std::string v11 = make_npy(kF32Dict, k24Bytes);
  v11[7] = 1;
  EXPECT_NPY_ERROR(v11, "version 1.1 is not supported");
  std::string long_header = make_npy(kF32Dict, "");
  long_header[9] = 2;  // 512 + 118 bytes of header in a 128-byte file
  EXPECT_NPY_ERROR(long_header, "header length 630 runs past the end of the file");
}

TEST(Npy, RefusesUnsupportedDtypesNamingThem) {
  EXPECT_NPY_ERROR(bytes_of(kNumpyBigEndian),
                   "X.npy: dtype '>f4' is not supported (big-endian: convert with "
                   "a.astype('<f4')); expected little-endian float32 ('<f4') or float64 ('<f8')");
  EXPECT_NPY_ERROR(
      make_npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
      "dtype '|O' is not supported (object arrays");
  EXPECT_NPY_ERROR(make_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }", "ab"),
                   "dtype '<f2' is not supported");
  EXPECT_NPY_ERROR(
      make_npy("{'descr': '>i8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
      "dtype '>i8' is not supported");
  EXPECT_NPY_ERROR(
      make_npy("{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (1,), }",
               std::string(8, '\0')),
      "structured dtypes");
}

TEST(Npy, RefusesFortranOrder) {
  EXPECT_NPY_ERROR(bytes_of(kNumpyFortran), "fortran_order True");
  EXPECT_NPY_ERROR(bytes_of(kNumpyFortran), "np.ascontiguousarray");
}

TEST(Npy, RefusesBadShapes) {
  auto with_shape = [](const std::string& tuple) {
    return make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + tuple + ", }", "");
  };
  EXPECT_NPY_ERROR(with_shape("(-1, 3)"), "negative dimension");
  EXPECT_NPY_ERROR(with_shape("(2, -3)"), "negative dimension");
  EXPECT_NPY_ERROR(with_shape("(99999999999999999999,)"), "overflows a 64-bit integer");
  EXPECT_NPY_ERROR(with_shape("(4611686018427387904, 4)"), "is too large");
  EXPECT_NPY_ERROR(with_shape("(3037000500, 3037000500)"), "is too large");
  EXPECT_NPY_ERROR(with_shape("(2.5,)"), "expected ',' or ')'");
  EXPECT_NPY_ERROR(with_shape("(a,)"), "expected an integer in 'shape'");
  EXPECT_NPY_ERROR(with_shape("[2, 3]"), "unexpected value for 'shape'");
  EXPECT_NPY_ERROR(with_shape("'(2, 3)'"), "'shape' must be a tuple of integers");
}

TEST(Npy, RefusesDataOfTheWrongLength) {
  EXPECT_NPY_ERROR(make_npy(kF32Dict, k24Bytes.substr(0, 20)),
                   "shape (2, 3) of '<f4' needs 24 data bytes, but the file has 20 (the file is "
                   "truncated)");
  EXPECT_NPY_ERROR(make_npy(kF32Dict, ""), "needs 24 data bytes, but the file has 0");
  EXPECT_NPY_ERROR(make_npy(kF32Dict, k24Bytes + "abcd"),
                   "needs 24 data bytes, but the file has 28 (unexpected bytes after the data)");
  const std::string f64 = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_NPY_ERROR(make_npy(f64, k24Bytes), "shape (2, 3) of '<f8' needs 48 data bytes");
  // Truncated numpy output.
  const std::string numpy = bytes_of(kNumpyF32);
  EXPECT_NPY_ERROR(numpy.substr(0, numpy.size() - 1), "needs 24 data bytes, but the file has 23");
}

TEST(Npy, RefusesMalformedHeaders) {
  EXPECT_NPY_ERROR(make_npy("{'descr': '<f4', 'fortran_order': False}", ""), "missing key 'shape'");
  EXPECT_NPY_ERROR(make_npy("{'shape': (), 'fortran_order': False}", ""), "missing key 'descr'");
  EXPECT_NPY_ERROR(
      make_npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", "abcd"),
      "key 'descr' appears twice");
  EXPECT_NPY_ERROR(
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': 1}", "abcd"),
      "unexpected value for 'extra'");
  EXPECT_NPY_ERROR(
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'extra': ()}", "abcd"),
      "unexpected key 'extra'");
  EXPECT_NPY_ERROR(make_npy("{'descr': 4, 'fortran_order': False, 'shape': ()}", "abcd"),
                   "unexpected value for 'descr'");
  EXPECT_NPY_ERROR(make_npy("{'descr': '<f4', 'fortran_order': 'no', 'shape': ()}", "abcd"),
                   "'fortran_order' must be True or False");
  EXPECT_NPY_ERROR(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': ()", "abcd"),
                   "the header ends before its closing '}'");
  EXPECT_NPY_ERROR(make_npy("{'descr' '<f4', 'fortran_order': False, 'shape': ()}", "abcd"),
                   "expected ':' after key");
  EXPECT_NPY_ERROR(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", "abcd"),
                   "unexpected text after the closing '}'");
  EXPECT_NPY_ERROR(make_npy("{'descr': '<f4' 'fortran_order': False, 'shape': ()}", "abcd"),
                   "expected ',' or '}'");
  EXPECT_NPY_ERROR(make_npy("('descr', '<f4')", "abcd"), "must be a Python dict");
  EXPECT_NPY_ERROR(make_npy("{'descr", "abcd"), "unterminated string");
  EXPECT_NPY_ERROR(make_npy("{'descr': '<f4', ", "abcd"), "expected a quoted key");
}

TEST(Npy, MutatedFilesParseOrThrowFormatError) {
  std::mt19937 rng(20240601);
  int parsed = 0;
  for (const std::string& original : {bytes_of(kNumpyF32), bytes_of(kNumpyV2)}) {
    for (int trial = 0; trial < 3000; ++trial) {
      try {
        parse_npy(testing::mutate_bytes(original, rng), "fuzz.npy");
        ++parsed;
      } catch (const FormatError&) {
      }
    }
  }
  EXPECT_GT(parsed, 0);  // some edits only touch the data
}

}  // namespace
}  // namespace nnkit
