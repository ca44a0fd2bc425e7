// Weight initialisers by Keras name. Fans follow Keras: for a [units, in] Dense weight
// fan_in = in and fan_out = units; for a convolution weight [out, in, kh, kw] the
// receptive field kh·kw multiplies both.
#pragma once

#include <string>

#include "nlohmann/json.hpp"
#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

struct Initializer {
  // classic_uniform (uniform in (-1, 1), the seeds' classic BP), uniform (minval, maxval),
  // normal (mean, stddev), glorot_uniform, glorot_normal, he_uniform, he_normal,
  // lecun_uniform, lecun_normal, orthogonal (gain), zeros, ones, constant (value).
  std::string name = "glorot_uniform";
  float value = 0.0f;                     // constant
  float minval = -0.05f, maxval = 0.05f;  // uniform (Keras RandomUniform defaults)
  float mean = 0.0f, stddev = 0.05f;      // normal (Keras RandomNormal defaults)
  float gain = 1.0f;                      // orthogonal
};

// "he_normal" or {"class_name": "Constant", "config": {"value": 0.1}} style or
// {"type": "constant", "value": 0.1}. Throws ValueError naming unknown initialisers.
Initializer parse_initializer(const nlohmann::json& spec);
nlohmann::json initializer_to_json(const Initializer& init);

// Fills w (shape [out, in, ...receptive field]) in place.
void initialize(Tensor& w, const Initializer& init, Rng& rng);

}  // namespace nnkit
