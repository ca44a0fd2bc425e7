#include "nnkit/data/npy.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"

namespace nnkit {

// Data is copied with memcpy; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little,
              "nnkit's file formats assume a little-endian host");

namespace {

constexpr std::string_view kMagic("\x93NUMPY", 6);
constexpr std::size_t kAlign = 64;  // numpy pads the header so that data starts here

enum class DType { kF32, kF64, kU8, kI32, kI64 };

struct DTypeInfo {
  DType type;
  std::size_t size;
};

std::optional<DTypeInfo> dtype_from_descr(std::string_view descr) {
  if (descr == "<f4") return DTypeInfo{DType::kF32, 4};
  if (descr == "<f8") return DTypeInfo{DType::kF64, 8};
  // A single byte has no byte order: numpy writes '|u1' but '<u1' and '>u1' mean the same.
  if (descr == "|u1" || descr == "<u1" || descr == ">u1") return DTypeInfo{DType::kU8, 1};
  if (descr == "<i4") return DTypeInfo{DType::kI32, 4};
  if (descr == "<i8") return DTypeInfo{DType::kI64, 8};
  return std::nullopt;
}

// The header is a Python dict literal as written by numpy, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// This parser takes exactly the literals that can appear there (strings, True/False, tuples of
// non-negative integers), in any key order, with any whitespace and trailing commas.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  struct Value {
    enum class Kind { kString, kBool, kTuple } kind;
    std::string string;
    bool boolean = false;
    Shape tuple;
  };

  // Calls on_entry(key, value) for each entry of the dict.
  template <typename F>
  void parse(F on_entry) {
    skip_space();
    expect('{', "the header must be a Python dict starting with '{'");
    skip_space();
    while (!consume('}')) {
      const std::string key = parse_string("a quoted key");
      skip_space();
      expect(':', fmt::format("expected ':' after key '{}'", key));
      skip_space();
      on_entry(key, parse_value(key));
      skip_space();
      if (consume(',')) {
        skip_space();
      } else if (pos_ == text_.size()) {
        fail("the header ends before its closing '}'");
      } else if (peek() != '}') {
        fail("expected ',' or '}' after a value");
      }
    }
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(fmt::format("{}: invalid .npy header at character {}: {}; header: {}", name_,
                                  pos_, what, quoted_header()));
  }

 private:
  // The header for a message: padding dropped, unprintable bytes shown as '?', at most 200.
  std::string quoted_header() const {
    std::string_view shown = text_;
    while (!shown.empty() && (shown.back() == ' ' || shown.back() == '\n')) shown.remove_suffix(1);
    std::string out = "\"";
    for (std::size_t i = 0; i < shown.size() && i < 200; ++i) {
      const auto c = static_cast<unsigned char>(shown[i]);
      out += (c >= 0x20 && c < 0x7f) ? shown[i] : '?';
    }
    return out + (shown.size() > 200 ? "...\"" : "\"");
  }

  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool consume(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c, const std::string& what) {
    if (!consume(c)) fail(what);
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::string parse_string(const char* what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail(fmt::format("expected {}", what));
    ++pos_;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
      out += text_[pos_++];
    }
    if (pos_ >= text_.size()) fail("unterminated string");
    ++pos_;
    return out;
  }

  Value parse_value(const std::string& key) {
    Value value;
    const char c = peek();
    if (c == '\'' || c == '"') {
      value.kind = Value::Kind::kString;
      value.string = parse_string("a string");
    } else if (consume_word("True")) {
      value.kind = Value::Kind::kBool;
      value.boolean = true;
    } else if (consume_word("False")) {
      value.kind = Value::Kind::kBool;
      value.boolean = false;
    } else if (c == '(') {
      value.kind = Value::Kind::kTuple;
      value.tuple = parse_tuple(key);
    } else if (c == '[' && key == "descr") {
      throw FormatError(fmt::format(
          "{}: structured dtypes (records with named fields) are not supported; expected "
          "little-endian float32 ('<f4') or float64 ('<f8')",
          name_));
    } else {
      fail(fmt::format("unexpected value for '{}'", key));
    }
    return value;
  }

  // "()", "(3,)", "(2, 3)"; numpy from Python 2 wrote long integers as "3L".
  Shape parse_tuple(const std::string& key) {
    expect('(', "expected '('");
    Shape dims;
    skip_space();
    while (!consume(')')) {
      if (peek() == '-') {
        throw FormatError(
            fmt::format("{}: negative dimension in '{}' {}", name_, key, quoted_header()));
      }
      if (peek() < '0' || peek() > '9') fail(fmt::format("expected an integer in '{}'", key));
      int64_t dim = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (__builtin_mul_overflow(dim, 10, &dim) || __builtin_add_overflow(dim, digit, &dim)) {
          throw FormatError(fmt::format("{}: dimension in '{}' overflows a 64-bit integer {}",
                                        name_, key, quoted_header()));
        }
        ++pos_;
      }
      consume('L');
      dims.push_back(dim);
      skip_space();
      if (consume(',')) {
        skip_space();
      } else if (peek() != ')') {
        fail(fmt::format("expected ',' or ')' in '{}'", key));
      }
    }
    return dims;
  }

  std::string_view text_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

uint32_t load_le(const char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

template <typename T>
void convert(const char* src, float* dst, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    T v;
    std::memcpy(&v, src + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
    dst[i] = static_cast<float>(v);
  }
}

std::string python_tuple(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

}  // namespace

Tensor parse_npy(const std::string& bytes, const std::string& name) {
  if (bytes.size() < kMagic.size() || std::string_view(bytes).substr(0, kMagic.size()) != kMagic) {
    throw FormatError(
        fmt::format("{}: not a .npy file (it does not start with \"\\x93NUMPY\")", name));
  }
  if (bytes.size() < 10) {
    throw FormatError(fmt::format("{}: file is truncated ({} bytes) inside the .npy preamble", name,
                                  bytes.size()));
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  std::size_t header_begin = 0;
  std::size_t header_size = 0;
  if (major == 1 && minor == 0) {
    header_begin = 10;
    header_size = load_le(bytes.data() + 8, 2);
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (bytes.size() < 12) {
      throw FormatError(fmt::format("{}: file is truncated ({} bytes) inside the .npy preamble",
                                    name, bytes.size()));
    }
    header_begin = 12;
    header_size = load_le(bytes.data() + 8, 4);
  } else {
    throw FormatError(
        fmt::format("{}: .npy format version {}.{} is not supported; expected 1.0, 2.0 or 3.0",
                    name, major, minor));
  }
  if (header_size > bytes.size() - header_begin) {
    throw FormatError(fmt::format(
        "{}: header length {} runs past the end of the file ({} bytes after the preamble)", name,
        header_size, bytes.size() - header_begin));
  }

  HeaderParser parser(std::string_view(bytes).substr(header_begin, header_size), name);
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<Shape> shape;
  parser.parse([&](const std::string& key, HeaderParser::Value value) {
    using Kind = HeaderParser::Value::Kind;
    auto check = [&](bool seen, Kind kind, const char* what) {
      if (seen) parser.fail(fmt::format("key '{}' appears twice", key));
      if (value.kind != kind) parser.fail(fmt::format("'{}' must be {}", key, what));
    };
    if (key == "descr") {
      check(descr.has_value(), Kind::kString, "a string");
      descr = value.string;
    } else if (key == "fortran_order") {
      check(fortran_order.has_value(), Kind::kBool, "True or False");
      fortran_order = value.boolean;
    } else if (key == "shape") {
      check(shape.has_value(), Kind::kTuple, "a tuple of integers");
      shape = value.tuple;
    } else {
      parser.fail(
          fmt::format("unexpected key '{}'; expected only 'descr', 'fortran_order' and "
                      "'shape'",
                      key));
    }
  });
  if (!descr || !fortran_order || !shape) {
    parser.fail(fmt::format("missing key '{}'", !descr           ? "descr"
                                                : !fortran_order ? "fortran_order"
                                                                 : "shape"));
  }

  const std::optional<DTypeInfo> dtype = dtype_from_descr(*descr);
  if (!dtype) {
    const char* hint = "";
    if (descr->find('O') != std::string::npos) {
      hint = " (object arrays hold Python objects, not numbers)";
    } else if (!descr->empty() && descr->front() == '>') {
      hint = " (big-endian: convert with a.astype('<f4'))";
    }
    throw FormatError(fmt::format(
        "{}: dtype '{}' is not supported{}; expected little-endian float32 ('<f4') or float64 "
        "('<f8'), or labels as '|u1', '<i4' or '<i8'",
        name, *descr, hint));
  }
  if (*fortran_order) {
    throw FormatError(fmt::format(
        "{}: fortran_order True (column-major data) is not supported; save a C-ordered array, "
        "e.g. np.save(path, np.ascontiguousarray(a))",
        name));
  }

  int64_t count = 1;
  int64_t data_size = static_cast<int64_t>(dtype->size);
  for (int64_t dim : *shape) {
    if (__builtin_mul_overflow(count, dim, &count) ||
        __builtin_mul_overflow(data_size, dim, &data_size)) {
      throw FormatError(fmt::format("{}: shape {} is too large (its size overflows)", name,
                                    python_tuple(*shape)));
    }
  }
  const std::size_t data_begin = header_begin + header_size;
  const std::size_t available = bytes.size() - data_begin;
  if (static_cast<uint64_t>(data_size) != available) {
    throw FormatError(fmt::format("{}: shape {} of '{}' needs {} data bytes, but the file has {}{}",
                                  name, python_tuple(*shape), *descr, data_size, available,
                                  static_cast<uint64_t>(data_size) > available
                                      ? " (the file is truncated)"
                                      : " (unexpected bytes after the data)"));
  }

  Tensor tensor = Tensor::uninitialized(*shape);
  const char* src = bytes.data() + data_begin;
  float* dst = tensor.data();
  switch (dtype->type) {
    case DType::kF32:
      if (count > 0) std::memcpy(dst, src, static_cast<std::size_t>(data_size));
      break;
    case DType::kF64:
      convert<double>(src, dst, count);
      break;
    case DType::kU8:
      convert<uint8_t>(src, dst, count);
      break;
    case DType::kI32:
      convert<int32_t>(src, dst, count);
      break;
    case DType::kI64:
      convert<int64_t>(src, dst, count);
      break;
  }
  return tensor;
}

Tensor read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

namespace {

// numpy's own layout (format.py, _write_array_header and _wrap_header): the dict; spare spaces
// so that the first dimension can grow to 21 digits in place; spaces and '\n' so that the data
// starts at a multiple of 64 bytes (64 more when it already would); version 2.0 only when the
// header needs more than 65535 bytes.
std::string npy_bytes(const Tensor& tensor) {
  const Shape& shape = tensor.shape();
  std::string dict =
      fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}", python_tuple(shape));
  if (!shape.empty()) dict.append(21 - fmt::formatted_size("{}", shape[0]), ' ');
  auto padded = [&](std::size_t preamble) {
    const std::size_t unpadded = preamble + dict.size() + 1;  // + '\n'
    const std::size_t pad = kAlign - unpadded % kAlign;
    return dict + std::string(pad, ' ') + '\n';
  };
  std::string header = padded(10);
  std::string out(kMagic);
  if (header.size() <= 0xFFFF) {
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(header.size() & 0xFF);
    out += static_cast<char>(header.size() >> 8);
  } else {
    header = padded(12);
    out += '\x02';
    out += '\x00';
    for (int i = 0; i < 4; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  }
  out += header;
  if (!tensor.empty()) {
    out.append(reinterpret_cast<const char*>(tensor.data()),
               static_cast<std::size_t>(tensor.size()) * sizeof(float));
  }
  return out;
}

}  // namespace

void write_npy(const std::string& path, const Tensor& tensor) {
  if (tensor.size() != shape_size(tensor.shape())) {
    throw ValueError(fmt::format("write_npy('{}'): the tensor holds no values for shape {}", path,
                                 shape_to_string(tensor.shape())));
  }
  write_file_atomically(path, npy_bytes(tensor));
}

}  // namespace nnkit
