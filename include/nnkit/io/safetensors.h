// safetensors files: an 8-byte little-endian header length, a JSON header mapping tensor
// names to {dtype, shape, data_offsets} plus an optional "__metadata__" of string values,
// then the raw little-endian data. Loading never trusts the header: its length, the JSON,
// dtypes, shapes, offsets (in range, non-overlapping, covering the data exactly) are all
// checked before a byte of data is used.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "nnkit/tensor.h"

namespace nnkit {

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  // In the order of their data offsets (the file's order); tensors of zero size that share an
  // offset keep the header's order, so a written file reads back in the order it was given.
  std::vector<std::pair<std::string, Tensor>> tensors;

  // The tensor called `name`, or nullptr.
  const Tensor* find(const std::string& name) const;
};

// Reads F32, F64, F16 and BF16 tensors, converted to float32. Throws IoError or FormatError
// naming `path` and what is wrong.
SafetensorsFile read_safetensors(const std::string& path);
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& name);

// Writes F32 tensors in the given order, the header padded with spaces to a multiple of 8 bytes
// and "__metadata__" only when there is some; write_safetensors goes through a temporary file
// renamed into place. Throws ValueError for a repeated tensor name, a tensor called
// "__metadata__", a string that is not UTF-8 or a default-constructed Tensor; IoError.
std::string serialize_safetensors(const SafetensorsFile& file);
void write_safetensors(const std::string& path, const SafetensorsFile& file);

}  // namespace nnkit
