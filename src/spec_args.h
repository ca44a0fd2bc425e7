// Internal helpers for reading Keras-style JSON specs ({"type": "adam", "learning_rate": 0.1})
// with errors that name the object and the argument. Not part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace nnkit::detail {

// "Adam" -> "adam".
std::string to_lower(const std::string& name);
// Keras class names to snake case: "MeanSquaredError" -> "mean_squared_error",
// "ExponentialDecay" -> "exponential_decay"; snake-case names pass through lowercased.
std::string to_snake_case(const std::string& name);

// The name of a spec: the string itself, or an object's "type". `what` ("loss",
// "optimizer") goes into the error message.
std::string spec_type(const std::string& what, const nlohmann::json& spec);

}  // namespace nnkit::detail
