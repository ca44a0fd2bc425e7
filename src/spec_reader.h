// Reading Keras-style JSON specs ({"type": "adam", "learning_rate": 0.1}) for layers, losses,
// optimizers, schedules and initializers: SpecReader's getters check each argument's JSON
// type, and finish() rejects any argument no getter asked for, naming the closest valid one.
// Messages start with `who` ("Dense", "optimizer 'adam'"). Internal, not part of the public
// API.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/initializers.h"
#include "nnkit/tensor.h"

namespace nnkit::detail {

class SpecReader {
 public:
  // Throws ValueError unless spec is a JSON object. "type" is always a known argument. Keeps a
  // reference to spec: it must outlive the reader.
  SpecReader(std::string who, const nlohmann::json& spec);

  // Integers also accept a float with an integral value (100.0: Python's json writes some
  // integers so); 2.5 and "2" throw.
  int64_t get_int(const std::string& key, int64_t fallback);
  std::optional<int64_t> get_optional_int(const std::string& key);  // absent or null: nullopt
  float get_float(const std::string& key, float fallback);          // absent or null: fallback
  std::optional<float> get_optional_float(const std::string& key);
  // Absent: fallback; null throws (a flag has no "unset").
  bool get_bool(const std::string& key, bool fallback);
  // Absent or null: fallback (Keras writes "activation": null for linear).
  std::string get_string(const std::string& key, const std::string& fallback);
  std::vector<int64_t> get_int_list(const std::string& key, const std::vector<int64_t>& fallback);
  // Keras's "integer or pair" arguments (kernel_size, strides, pool_size): 3 and [3] mean
  // [3, 3]; absent or null: nullopt. Anything else throws, naming the argument.
  std::optional<std::array<int64_t, 2>> get_optional_int_pair(const std::string& key);
  Initializer get_initializer(const std::string& key, const Initializer& fallback);
  // A nested spec (Bidirectional's "layer"): nullptr when absent; throws unless a JSON object.
  const nlohmann::json* get_object(const std::string& key);
  bool has(const std::string& key) const { return spec_.contains(key); }
  // Marks key as required: finish() throws when it is absent (after reporting unknown
  // arguments, since a misspelt argument is the likelier cause).
  void require(const std::string& key);

  // Throws ValueError naming the first argument that no getter asked for (and the closest one
  // that a getter did), or else the first required argument missing. Call it after the reads
  // and before checking values, so that a misspelt argument is reported as such.
  void finish() const;

 private:
  // The argument's value, or nullptr when absent; records key as known either way.
  const nlohmann::json* find(const std::string& key);
  [[noreturn]] void type_error(const std::string& key, const char* expected) const;
  // value as an integer, else type_error(key, expected).
  int64_t to_int(const std::string& key, const nlohmann::json& value, const char* expected) const;

  std::string who_;
  const nlohmann::json& spec_;
  std::vector<std::string> known_;
  std::vector<std::string> required_;
};

// The name of a spec: the string itself, or an object's "type". `what` ("loss",
// "optimizer") goes into the error message.
std::string spec_type(const std::string& what, const nlohmann::json& spec);

// "Adam" -> "adam".
std::string to_lower(const std::string& name);
// Keras class names to snake case: "MeanSquaredError" -> "mean_squared_error",
// "ExponentialDecay" -> "exponential_decay"; snake-case names pass through lowercased.
std::string to_snake_case(const std::string& name);

// The candidate closest to `word` by edit distance, ignoring case, when it is a plausible
// typo; else "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// A float as the double with the same shortest decimal form: 0.3f gives 0.3, not
// 0.30000001192092896, so specs written by config() read as the numbers the user typed and
// still round-trip exactly. Infinities and NaN pass unchanged.
double json_float(float value);

}  // namespace nnkit::detail
