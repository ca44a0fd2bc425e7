// Errors thrown at every boundary a user can reach: spec parsing, file loading, fit on user
// data, command-line flags. The CLI maps nnkit::Error to exit status 2.
#pragma once

#include <stdexcept>
#include <string>

namespace nnkit {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A tensor arrived with the wrong shape for a layer, loss or kernel.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// An argument or configuration value is out of range or unknown.
class ValueError : public Error {
 public:
  using Error::Error;
};

// A file's contents are malformed (bad header, dtype, offsets, JSON).
class FormatError : public Error {
 public:
  using Error::Error;
};

// A file cannot be opened, read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace nnkit
