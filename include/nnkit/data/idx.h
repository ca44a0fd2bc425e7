// IDX files, the format of MNIST and Fashion-MNIST, plain or gzip-compressed (read through
// zlib, which reads both). Layout: two zero bytes, a type byte, a byte with the number of
// dimensions, then each dimension as a big-endian uint32, then the elements, big-endian,
// row-major. Element types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
// 0x0E float64.
//
// Nothing in the file is trusted: the magic, the type, the number of dimensions (1 to
// kMaxIdxDims), the size the dimensions imply (overflow included) and the data bytes, which
// must be exactly that many (a truncated file, a truncated gzip stream or trailing bytes are
// errors). Errors are IoError (cannot open or read) or FormatError (malformed), naming the file.
#pragma once

#include <cstdint>
#include <string>

#include "nnkit/tensor.h"

namespace nnkit {

enum class IdxType : uint8_t {
  kUint8 = 0x08,
  kInt8 = 0x09,
  kInt16 = 0x0B,
  kInt32 = 0x0C,
  kFloat32 = 0x0D,
  kFloat64 = 0x0E,
};

// More dimensions than this is taken for a corrupt header.
constexpr int kMaxIdxDims = 8;

// "uint8 (0x08)", for messages.
std::string idx_type_name(IdxType type);

struct IdxArray {
  IdxType type = IdxType::kUint8;
  // The file's shape; the elements converted to float32 as they are (not scaled). Exact for
  // uint8, int8, int16 and float32; int32 beyond 2^24 and float64 are rounded to float32.
  Tensor values;
};

// The whole file, any element type and number of dimensions.
IdxArray read_idx(const std::string& path);

// Images: a 3-D file [N, H, W] loads as [N, 1, H, W]; a 4-D file is taken as [N, C, H, W].
// uint8 pixels are scaled to [0, 1] (v / 255, as torchvision's ToTensor); float32 and float64
// are kept as they are; other element types are refused.
Tensor read_idx_images(const std::string& path);

// Class labels: a 1-D file [N] of integers (uint8, int8, int16 or int32), each in
// [0, 2^24) so that it is exact in float32, loaded as [N] float32 class indices (what
// sparse_categorical_crossentropy and the accuracy metric take). A negative label is refused
// naming its index.
Tensor read_idx_labels(const std::string& path);

}  // namespace nnkit
