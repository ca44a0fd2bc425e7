// Writing IDX files in tests: the header and big-endian elements byte by byte, plain or
// gzip-compressed through zlib, so that the reader is checked against an independent writer.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace nnkit::testing {

// The header: two zero bytes, the type byte, the number of dimensions, each dimension as a
// big-endian uint32.
inline std::string idx_header(uint8_t type, const std::vector<uint32_t>& dims) {
  std::string out{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
  }
  return out;
}

// Elements of any width, big-endian.
template <typename T>
std::string idx_elements(const std::vector<T>& values) {
  std::string out;
  for (T v : values) {
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    for (std::size_t i = sizeof(T); i-- > 0;) out += static_cast<char>(bytes[i]);
  }
  return out;
}

inline void write_plain(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

inline void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  if (!bytes.empty()) {
    ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
  }
  ASSERT_EQ(gzclose(file), Z_OK);
}

}  // namespace nnkit::testing
