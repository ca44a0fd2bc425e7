#include "nnkit/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <string_view>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "nnkit/error.h"
#include "nnkit/io/atomic_file.h"

namespace nnkit {

// Data is copied with memcpy; a big-endian host would need byte swaps.
static_assert(std::endian::native == std::endian::little,
              "nnkit's file formats assume a little-endian host");

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

// The reference implementation (huggingface/safetensors) refuses larger headers too: a header
// length is 8 bytes anyone can forge, and the JSON is parsed into memory.
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

enum class DType { kF32, kF64, kF16, kBF16 };

struct DTypeInfo {
  DType type;
  uint64_t size;
};

std::optional<DTypeInfo> dtype_from_name(const std::string& dtype) {
  if (dtype == "F32") return DTypeInfo{DType::kF32, 4};
  if (dtype == "F64") return DTypeInfo{DType::kF64, 8};
  if (dtype == "F16") return DTypeInfo{DType::kF16, 2};
  if (dtype == "BF16") return DTypeInfo{DType::kBF16, 2};
  return std::nullopt;
}

// IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    if (mantissa == 0) return std::bit_cast<float>(sign);  // +0 or -0
    // Subnormal: mantissa · 2^-24, a normal float32 (exact: 10 bits fit in 24).
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign != 0 ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) {
    // Infinity, or NaN with its payload kept in the top mantissa bits.
    return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
  }
  return std::bit_cast<float>(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

// bfloat16 is the top half of a float32.
float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// nlohmann::json keeps the last of duplicate keys silently; this SAX pass rejects them, at every
// depth, and keeps the parser's message for invalid JSON.
class DuplicateKeyCheck {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t) { return true; }
  bool number_unsigned(number_unsigned_t) { return true; }
  bool number_float(number_float_t, const string_t&) { return true; }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return true; }
  bool start_object(std::size_t) {
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& key) {
    if (keys_.back().insert(key).second) return true;
    error = fmt::format("key \"{}\" appears twice", key);
    return false;
  }
  bool end_object() {
    keys_.pop_back();
    return true;
  }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 7: ..." without the tag.
    const std::string_view what = e.what();
    const std::size_t tag_end = what.find("] ");
    error = tag_end == std::string_view::npos ? what : what.substr(tag_end + 2);
    return false;
  }

  std::string error;

 private:
  std::vector<std::set<std::string>> keys_;
};

struct Entry {
  std::string name;
  DTypeInfo dtype;
  Shape shape;
  int64_t count = 1;
  uint64_t begin = 0;
  uint64_t end = 0;
};

Entry parse_entry(const std::string& file, const std::string& tensor, const ordered_json& value,
                  uint64_t data_size) {
  const std::string who = fmt::format("{}: tensor '{}'", file, tensor);
  auto fail = [&](const std::string& what) { return FormatError(who + ": " + what); };
  if (!value.is_object()) {
    throw fail(
        fmt::format("expected an object with dtype, shape and data_offsets, got {}", value.dump()));
  }
  auto field = [&](const char* key) -> const ordered_json& {
    const auto it = value.find(key);
    if (it == value.end()) throw fail(fmt::format("'{}' is missing", key));
    return *it;
  };

  Entry entry;
  entry.name = tensor;
  const ordered_json& dtype = field("dtype");
  if (!dtype.is_string()) throw fail(fmt::format("dtype must be a string, got {}", dtype.dump()));
  const std::optional<DTypeInfo> info = dtype_from_name(dtype.get<std::string>());
  if (!info) {
    throw fail(fmt::format("dtype '{}' is not supported; expected F32, F64, F16 or BF16",
                           dtype.get<std::string>()));
  }
  entry.dtype = *info;

  const ordered_json& shape = field("shape");
  if (!shape.is_array()) throw fail(fmt::format("shape must be an array, got {}", shape.dump()));
  uint64_t nbytes = entry.dtype.size;
  for (const ordered_json& dim : shape) {
    // Non-negative integer literals parse as unsigned; -1, 2.5 and "3" do not.
    if (!dim.is_number_unsigned()) {
      throw fail(fmt::format("shape {} must hold non-negative integers", shape.dump()));
    }
    const uint64_t d = dim.get<uint64_t>();
    if (d > static_cast<uint64_t>(INT64_MAX) ||
        __builtin_mul_overflow(entry.count, static_cast<int64_t>(d), &entry.count) ||
        __builtin_mul_overflow(nbytes, d, &nbytes)) {
      throw fail(fmt::format("shape {} is too large (its size overflows)", shape.dump()));
    }
    entry.shape.push_back(static_cast<int64_t>(d));
  }

  const ordered_json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    throw fail(fmt::format("data_offsets must be [begin, end] with non-negative integers, got {}",
                           offsets.dump()));
  }
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end) {
    throw fail(fmt::format("data_offsets [{}, {}] has begin after end", entry.begin, entry.end));
  }
  if (entry.end > data_size) {
    throw fail(fmt::format("data_offsets [{}, {}] run past the end of the data ({} bytes)",
                           entry.begin, entry.end, data_size));
  }
  if (entry.end - entry.begin != nbytes) {
    throw fail(fmt::format("data_offsets [{}, {}] span {} bytes, but shape {} of {} needs {}",
                           entry.begin, entry.end, entry.end - entry.begin, shape.dump(),
                           dtype.get<std::string>(), nbytes));
  }
  return entry;
}

Tensor decode(const Entry& entry, const char* src) {
  Tensor tensor = Tensor::uninitialized(entry.shape);
  float* dst = tensor.data();
  const int64_t n = entry.count;
  switch (entry.dtype.type) {
    case DType::kF32:
      if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
      break;
    case DType::kF64:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(load<double>(src + 8 * i));
      break;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load<uint16_t>(src + 2 * i));
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load<uint16_t>(src + 2 * i));
      break;
  }
  return tensor;
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& [tensor_name, tensor] : tensors) {
    if (tensor_name == name) return &tensor;
  }
  return nullptr;
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& name) {
  if (bytes.size() < 8) {
    throw FormatError(fmt::format(
        "{}: file is too short ({} bytes) for a safetensors file, which starts with an 8-byte "
        "header length",
        name, bytes.size()));
  }
  const uint64_t header_size = load<uint64_t>(bytes.data());
  if (header_size > kMaxHeaderSize) {
    throw FormatError(fmt::format(
        "{}: header length {} is larger than the limit of {} bytes; not a safetensors file?", name,
        header_size, kMaxHeaderSize));
  }
  if (header_size > bytes.size() - 8) {
    throw FormatError(fmt::format(
        "{}: header length {} runs past the end of the file ({} bytes after the length)", name,
        header_size, bytes.size() - 8));
  }
  const char* header_begin = bytes.data() + 8;
  const char* header_end = header_begin + header_size;

  // nlohmann's lexer takes a NUL byte for the end of its input and would ignore what follows.
  if (const void* nul = std::memchr(header_begin, '\0', header_size); nul != nullptr) {
    throw FormatError(
        fmt::format("{}: header is not valid JSON: NUL byte at offset {} (padding must be spaces)",
                    name, static_cast<const char*>(nul) - header_begin));
  }
  DuplicateKeyCheck check;
  if (!json::sax_parse(header_begin, header_end, &check)) {
    throw FormatError(fmt::format("{}: header is not valid JSON: {}", name, check.error));
  }
  // ordered_json keeps the header's order, which orders zero-size tensors sharing an offset.
  const ordered_json header = ordered_json::parse(header_begin, header_end);
  if (!header.is_object()) {
    throw FormatError(fmt::format("{}: header must be a JSON object, got {}", name,
                                  std::string(header.type_name())));
  }

  const uint64_t data_size = bytes.size() - 8 - header_size;
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key != kMetadataKey) {
      entries.push_back(parse_entry(name, key, value, data_size));
      continue;
    }
    if (!value.is_object()) {
      throw FormatError(fmt::format("{}: \"__metadata__\" must be an object of strings, got {}",
                                    name, value.dump()));
    }
    for (const auto& [meta_key, meta_value] : value.items()) {
      if (!meta_value.is_string()) {
        throw FormatError(
            fmt::format("{}: \"__metadata__\" value of \"{}\" must be a string, got {}", name,
                        meta_key, meta_value.dump()));
      }
      file.metadata[meta_key] = meta_value.get<std::string>();
    }
  }

  // The tensors must tile the data region exactly: sorted by offsets, each begins where the
  // previous one ended, and the last ends at the end of the file.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < covered) {
      throw FormatError(fmt::format(
          "{}: tensor '{}' (data_offsets [{}, {}]) overlaps tensor '{}' (data_offsets [{}, {}])",
          name, entry.name, entry.begin, entry.end, previous->name, previous->begin,
          previous->end));
    }
    if (entry.begin > covered) {
      throw FormatError(fmt::format(
          "{}: data bytes [{}, {}) before tensor '{}' belong to no tensor; data_offsets must "
          "cover the data without holes",
          name, covered, entry.begin, entry.name));
    }
    covered = entry.end;
    previous = &entry;
  }
  if (covered != data_size) {
    throw FormatError(fmt::format(
        "{}: the last {} data bytes (of {}) belong to no tensor; data_offsets must cover the data "
        "without holes",
        name, data_size - covered, data_size));
  }

  const char* data = header_end;
  file.tensors.reserve(entries.size());
  for (const Entry& entry : entries) {
    file.tensors.emplace_back(entry.name, decode(entry, data + entry.begin));
  }
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_file(path), path);
}

std::string serialize_safetensors(const SafetensorsFile& file) {
  // ordered_json keeps the tensors in the given order, so the header reads like the data.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) header[kMetadataKey] = file.metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {
    if (name == kMetadataKey) {
      throw ValueError("serialize_safetensors: a tensor cannot be called \"__metadata__\"");
    }
    if (!names.insert(name).second) {
      throw ValueError(fmt::format("serialize_safetensors: tensor name '{}' appears twice", name));
    }
    if (tensor.size() != shape_size(tensor.shape())) {
      throw ValueError(
          fmt::format("serialize_safetensors: tensor '{}' holds no values for shape {}", name,
                      shape_to_string(tensor.shape())));
    }
    const uint64_t end = offset + static_cast<uint64_t>(tensor.size()) * sizeof(float);
    header[name] = {{"dtype", "F32"},
                    {"shape", tensor.shape()},
                    {"data_offsets", nlohmann::ordered_json::array({offset, end})}};
    offset = end;
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::type_error& e) {
    throw ValueError(
        fmt::format("serialize_safetensors: a name or metadata string is not valid "
                    "UTF-8 ({})",
                    e.what()));
  }
  // Pad with spaces (valid JSON whitespace) so the data starts 8-byte aligned, as the
  // reference implementation does.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + text.size() + offset);
  const uint64_t header_size = text.size();
  out.append(reinterpret_cast<const char*>(&header_size), 8);
  out += text;
  for (const auto& [name, tensor] : file.tensors) {
    if (tensor.empty()) continue;
    out.append(reinterpret_cast<const char*>(tensor.data()),
               static_cast<std::size_t>(tensor.size()) * sizeof(float));
  }
  return out;
}

void write_safetensors(const std::string& path, const SafetensorsFile& file) {
  write_file_atomically(path, serialize_safetensors(file));
}

}  // namespace nnkit
