// NumPy .npy arrays: the array format of the command-line tool (--x, --y, --out).
// Reading takes float32 or float64 (converted to float32), little-endian, C order, format
// versions 1.0-3.0, and for labels uint8, int32 and int64 (converted to float32, exact up to
// 2^24); everything else is refused with a FormatError naming the file.
#pragma once

#include <string>

#include "nnkit/tensor.h"

namespace nnkit {

// Throws IoError (cannot open/read) or FormatError (bad magic, header, dtype, order, shape,
// or data bytes fewer or more than the shape needs), naming `path`.
Tensor read_npy(const std::string& path);
// Parses .npy bytes already in memory; `name` is used in messages.
Tensor parse_npy(const std::string& bytes, const std::string& name);

// Writes float32, C order, format 1.0, byte for byte as np.save does (data 64-byte aligned),
// through a temporary file renamed into place. Throws IoError, or ValueError for a
// default-constructed Tensor.
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace nnkit
