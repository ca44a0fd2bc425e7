#include "nnkit/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <system_error>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {

// zlib's input buffer (default 8 KiB): larger means fewer read() calls on big files.
constexpr unsigned kGzBufferBytes = 1u << 18;
// The data buffer starts at most this large and doubles as bytes arrive, so that a header
// claiming huge dimensions costs no more memory than the bytes the file really holds.
constexpr uint64_t kInitialDataBytes = uint64_t{64} << 20;
// gzread takes an unsigned int and returns an int: read at most this much per call.
constexpr std::size_t kMaxGzRead = std::size_t{1} << 30;

std::optional<std::size_t> element_size(uint8_t type) {
  switch (static_cast<IdxType>(type)) {
    case IdxType::kUint8:
    case IdxType::kInt8:
      return 1;
    case IdxType::kInt16:
      return 2;
    case IdxType::kInt32:
    case IdxType::kFloat32:
      return 4;
    case IdxType::kFloat64:
      return 8;
  }
  return std::nullopt;
}

// A gzip-compressed or plain file, read through zlib.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) {
      const int error = errno;
      throw IoError(fmt::format(
          "cannot open '{}': {}", path,
          error != 0 ? std::generic_category().message(error) : std::string("out of memory")));
    }
    gzbuffer(file_, kGzBufferBytes);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() { gzclose(file_); }

  // Reads up to `n` bytes into `dst`; fewer only at the end of the data. Throws IoError on a
  // read error, FormatError on corrupt or truncated gzip data.
  std::size_t read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t done = 0;
    while (done < n) {
      const auto chunk = static_cast<unsigned>(std::min(n - done, kMaxGzRead));
      const int got = gzread(file_, out + done, chunk);
      if (got < 0) fail();
      if (got == 0) {
        // zlib ends a gzip stream cut short quietly and records Z_BUF_ERROR.
        int code = Z_OK;
        gzerror(file_, &code);
        if (code != Z_OK) fail();
        break;
      }
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

 private:
  [[noreturn]] void fail() {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (code == Z_ERRNO) {
      throw IoError(
          fmt::format("cannot read '{}': {}", path_, std::generic_category().message(errno)));
    }
    // zlib's message starts with the path given to gzopen.
    std::string what = message != nullptr ? message : "";
    if (what.rfind(path_ + ": ", 0) == 0) what.erase(0, path_.size() + 2);
    if (code == Z_BUF_ERROR) {
      throw FormatError(
          fmt::format("{}: the gzip stream ends early ({}): the file is truncated", path_, what));
    }
    throw FormatError(fmt::format("{}: corrupt gzip data ({})", path_, what));
  }

  std::string path_;
  gzFile file_ = nullptr;
};

// The header as read and checked, and the data bytes: exactly the dimensions' worth.
struct RawIdx {
  IdxType type = IdxType::kUint8;
  Shape shape;
  int64_t count = 0;
  std::unique_ptr<unsigned char[]> data;
};

uint32_t load_be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

RawIdx read_raw(const std::string& path) {
  GzReader in(path);
  unsigned char magic[4];
  const std::size_t magic_bytes = in.read(magic, sizeof(magic));
  if (magic_bytes < sizeof(magic)) {
    throw FormatError(fmt::format(
        "{}: not an IDX file: it holds {} bytes, fewer than the 4 of an IDX magic number", path,
        magic_bytes));
  }
  if (magic[0] != 0 || magic[1] != 0) {
    throw FormatError(fmt::format(
        "{}: not an IDX file: it starts with 0x{:02X} 0x{:02X}, not with the two zero bytes of "
        "an IDX magic number",
        path, magic[0], magic[1]));
  }
  const std::optional<std::size_t> size = element_size(magic[2]);
  if (!size) {
    throw FormatError(fmt::format(
        "{}: unknown IDX element type 0x{:02X} (the third byte); expected 0x08 (uint8), 0x09 "
        "(int8), 0x0B (int16), 0x0C (int32), 0x0D (float32) or 0x0E (float64)",
        path, magic[2]));
  }
  const int ndim = magic[3];
  if (ndim < 1 || ndim > kMaxIdxDims) {
    throw FormatError(
        fmt::format("{}: the IDX header gives {} dimensions (the fourth byte); expected 1 to {}",
                    path, ndim, kMaxIdxDims));
  }

  unsigned char dims[4 * kMaxIdxDims];
  const std::size_t dim_bytes = in.read(dims, 4 * static_cast<std::size_t>(ndim));
  if (dim_bytes < 4 * static_cast<std::size_t>(ndim)) {
    throw FormatError(fmt::format(
        "{}: the file ends inside the IDX header ({} of the {} bytes of its {} dimensions)", path,
        dim_bytes, 4 * ndim, ndim));
  }
  RawIdx raw;
  raw.type = static_cast<IdxType>(magic[2]);
  raw.count = 1;
  int64_t expected = static_cast<int64_t>(*size);
  for (int i = 0; i < ndim; ++i) raw.shape.push_back(load_be32(dims + 4 * i));
  for (int64_t dim : raw.shape) {
    if (__builtin_mul_overflow(raw.count, dim, &raw.count) ||
        __builtin_mul_overflow(expected, dim, &expected)) {
      throw FormatError(fmt::format(
          "{}: the IDX dimensions {} are too large: their product overflows a 64-bit integer", path,
          shape_to_string(raw.shape)));
    }
  }
  const std::string what_is_needed =
      fmt::format("the IDX dimensions {} of {} need {} data bytes", shape_to_string(raw.shape),
                  idx_type_name(raw.type), expected);

  // Read up to the expected size, growing the buffer with the bytes that really arrive.
  const auto want = static_cast<uint64_t>(expected);
  uint64_t capacity = std::min(want, kInitialDataBytes);
  raw.data = std::make_unique_for_overwrite<unsigned char[]>(capacity);
  uint64_t have = 0;
  while (have < want) {
    if (have == capacity) {
      const uint64_t grown = std::min(want, capacity * 2);
      auto bigger = std::make_unique_for_overwrite<unsigned char[]>(grown);
      std::memcpy(bigger.get(), raw.data.get(), have);
      raw.data = std::move(bigger);
      capacity = grown;
    }
    const std::size_t asked = capacity - have;
    const std::size_t got = in.read(raw.data.get() + have, asked);
    have += got;
    if (got < asked) break;
  }
  if (have < want) {
    throw FormatError(
        fmt::format("{}: the file is truncated: {}, but it holds {}", path, what_is_needed, have));
  }
  // Anything after the data is an error too: count it for the message.
  uint64_t trailing = 0;
  unsigned char scratch[1 << 16];
  for (std::size_t got; (got = in.read(scratch, sizeof(scratch))) > 0;) trailing += got;
  if (trailing > 0) {
    throw FormatError(
        fmt::format("{}: {} unexpected bytes after the data ({})", path, trailing, what_is_needed));
  }
  return raw;
}

uint16_t byte_swap(uint16_t v) { return __builtin_bswap16(v); }
uint32_t byte_swap(uint32_t v) { return __builtin_bswap32(v); }
uint64_t byte_swap(uint64_t v) { return __builtin_bswap64(v); }

// Big-endian elements to float32, in one pass.
template <typename Bits, typename Value>
void convert_be(const unsigned char* src, float* dst, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    Bits bits;
    std::memcpy(&bits, src + i * static_cast<int64_t>(sizeof(Bits)), sizeof(Bits));
    if constexpr (std::endian::native == std::endian::little) bits = byte_swap(bits);
    dst[i] = static_cast<float>(std::bit_cast<Value>(bits));
  }
}

void convert(const RawIdx& raw, float* dst) {
  const unsigned char* src = raw.data.get();
  switch (raw.type) {
    case IdxType::kUint8:
      for (int64_t i = 0; i < raw.count; ++i) dst[i] = static_cast<float>(src[i]);
      break;
    case IdxType::kInt8:
      for (int64_t i = 0; i < raw.count; ++i) dst[i] = static_cast<float>(int8_t(src[i]));
      break;
    case IdxType::kInt16:
      convert_be<uint16_t, int16_t>(src, dst, raw.count);
      break;
    case IdxType::kInt32:
      convert_be<uint32_t, int32_t>(src, dst, raw.count);
      break;
    case IdxType::kFloat32:
      convert_be<uint32_t, float>(src, dst, raw.count);
      break;
    case IdxType::kFloat64:
      convert_be<uint64_t, double>(src, dst, raw.count);
      break;
  }
}

// Element i of an integer file, exactly (for messages).
int64_t integer_at(const RawIdx& raw, int64_t i) {
  const unsigned char* p = raw.data.get();
  switch (raw.type) {
    case IdxType::kUint8:
      return p[i];
    case IdxType::kInt8:
      return int8_t(p[i]);
    case IdxType::kInt16:
      return int16_t((p[2 * i] << 8) | p[2 * i + 1]);
    case IdxType::kInt32:
      return int32_t(load_be32(p + 4 * i));
    default:
      return 0;
  }
}

}  // namespace

std::string idx_type_name(IdxType type) {
  const char* name = "unknown";
  switch (type) {
    case IdxType::kUint8:
      name = "uint8";
      break;
    case IdxType::kInt8:
      name = "int8";
      break;
    case IdxType::kInt16:
      name = "int16";
      break;
    case IdxType::kInt32:
      name = "int32";
      break;
    case IdxType::kFloat32:
      name = "float32";
      break;
    case IdxType::kFloat64:
      name = "float64";
      break;
  }
  return fmt::format("{} (0x{:02X})", name, static_cast<unsigned>(type));
}

IdxArray read_idx(const std::string& path) {
  RawIdx raw = read_raw(path);
  IdxArray out;
  out.type = raw.type;
  out.values = Tensor::uninitialized(raw.shape);
  convert(raw, out.values.data());
  return out;
}

Tensor read_idx_images(const std::string& path) {
  RawIdx raw = read_raw(path);
  Shape shape = raw.shape;
  if (shape.size() == 3) {
    shape.insert(shape.begin() + 1, 1);
  } else if (shape.size() != 4) {
    throw FormatError(
        fmt::format("{}: expected images as a 3-D IDX file [N, H, W] (or 4-D [N, C, H, W]), got {} "
                    "dimensions {}",
                    path, shape.size(), shape_to_string(raw.shape)));
  }
  const bool is_float = raw.type == IdxType::kFloat32 || raw.type == IdxType::kFloat64;
  if (raw.type != IdxType::kUint8 && !is_float) {
    throw FormatError(
        fmt::format("{}: images of {} are not supported; expected uint8 (0x08) pixels, scaled to "
                    "[0, 1], or float32 (0x0D) or float64 (0x0E) values, taken as they are",
                    path, idx_type_name(raw.type)));
  }
  Tensor images = Tensor::uninitialized(shape);
  float* dst = images.data();
  if (raw.type == IdxType::kUint8) {
    // Divided, not multiplied by 1/255, to give torchvision's ToTensor values bit for bit.
    const unsigned char* src = raw.data.get();
    for (int64_t i = 0; i < raw.count; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  } else {
    convert(raw, dst);
  }
  return images;
}

Tensor read_idx_labels(const std::string& path) {
  RawIdx raw = read_raw(path);
  if (raw.shape.size() != 1) {
    throw FormatError(fmt::format("{}: expected labels as a 1-D IDX file [N], got {} dimensions {}",
                                  path, raw.shape.size(), shape_to_string(raw.shape)));
  }
  if (raw.type == IdxType::kFloat32 || raw.type == IdxType::kFloat64) {
    throw FormatError(
        fmt::format("{}: labels of {} are not supported; expected integer class indices (uint8, "
                    "int8, int16 or int32)",
                    path, idx_type_name(raw.type)));
  }
  Tensor labels = Tensor::uninitialized(raw.shape);
  convert(raw, labels.data());
  // 2^24: the largest range of integers float32 holds exactly.
  constexpr float kLimit = 16777216.0f;
  for (int64_t i = 0; i < raw.count; ++i) {
    if (labels[i] < 0 || labels[i] >= kLimit) {
      throw FormatError(
          fmt::format("{}: label {} at index {} is not a class index (expected 0 to {})", path,
                      integer_at(raw, i), i, static_cast<int64_t>(kLimit) - 1));
    }
  }
  return labels;
}

}  // namespace nnkit
