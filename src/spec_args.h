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

// Throws ValueError "{who}: unknown argument 'x'; expected one of a, b" for any key of an
// object spec outside `allowed` ("type" is always allowed). A string spec has no arguments.
void check_arguments(const std::string& who, const nlohmann::json& spec,
                     const std::vector<std::string>& allowed);

// Typed reads of an optional argument; `fallback` when absent. Throw ValueError naming `who`
// and the key when the value has the wrong type (an integer argument given 2.5, a number
// given "0.1").
float get_float(const std::string& who, const nlohmann::json& spec, const char* key,
                float fallback);
int64_t get_int(const std::string& who, const nlohmann::json& spec, const char* key,
                int64_t fallback);
bool get_bool(const std::string& who, const nlohmann::json& spec, const char* key, bool fallback);
// A float as the double with the same shortest decimal form (0.001f -> 0.001), so that
// configs written to JSON read as the numbers the user typed and still round-trip exactly.
double json_float(float value);

// Absent or null -> nullopt.
std::optional<float> get_optional_float(const std::string& who, const nlohmann::json& spec,
                                        const char* key);

}  // namespace nnkit::detail
