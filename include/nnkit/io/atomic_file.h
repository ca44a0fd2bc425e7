// Writing files so that a crash or an error never leaves a torn or half-written file:
// the bytes go to a temporary file beside the target, which is flushed and renamed over it.
#pragma once

#include <string>

namespace nnkit {

// Throws IoError naming `path` when the directory is not writable or the write fails;
// the target is then untouched and the temporary file removed.
void write_file_atomically(const std::string& path, const std::string& bytes);

// The whole file as bytes. Throws IoError naming `path`.
std::string read_file(const std::string& path);

}  // namespace nnkit
