// Small helpers shared by several test files.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include "nnkit/tensor.h"

namespace nnkit::testing {

// f() must throw an nnkit::Error whose message contains `part`.
void expect_error_message(const std::function<void()>& f, const std::string& part);

// f() must throw exactly an E (ValueError, ShapeError, ...) whose message contains `part`.
template <typename E, typename F>
void expect_throw_containing(F f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one containing: " << part;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// got and want have the same shape and every |got − want| ≤ tolerance·max(1, |want|); on
// failure one message names the worst element.
void expect_all_near(const Tensor& got, const Tensor& want, double tolerance,
                     const std::string& what = "");

// Values on a shuffled grid 0.05 apart: no two cells are within twice the finite-difference
// step (0.01) of each other, so the winner of a max over any cells never changes under a step.
Tensor distinct_tensor(const Shape& shape, uint64_t seed);

// Random edits (overwrite, truncate, insert) of a valid file's bytes, for parsers that must
// either succeed or throw FormatError on anything.
std::string mutate_bytes(std::string bytes, std::mt19937& rng);

}  // namespace nnkit::testing
