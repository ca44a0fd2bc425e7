// NumPy .npy arrays: the array format of the command-line tool (--x, --y, --out).
// Reading takes float32 or float64 (converted to float32), little-endian, C order, format
// versions 1.0-3.0; everything else is refused with a FormatError naming the file.
#pragma once

#include <string>

#include "nnkit/tensor.h"

namespace nnkit {

// Throws IoError (cannot open/read) or FormatError (bad magic, header, dtype, order, shape,
// or fewer data bytes than the shape needs), naming `path`.
Tensor read_npy(const std::string& path);
// Parses .npy bytes already in memory; `name` is used in messages.
Tensor parse_npy(const std::string& bytes, const std::string& name);

// Writes float32, C order, format 1.0, through a temporary file renamed into place.
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace nnkit
