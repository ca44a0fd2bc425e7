// Small helpers shared by several test files.
#pragma once

#include <functional>
#include <random>
#include <string>

namespace nnkit::testing {

// f() must throw an nnkit::Error whose message contains `part`.
void expect_error_message(const std::function<void()>& f, const std::string& part);

// Random edits (overwrite, truncate, insert) of a valid file's bytes, for parsers that must
// either succeed or throw FormatError on anything.
std::string mutate_bytes(std::string bytes, std::mt19937& rng);

}  // namespace nnkit::testing
