// Layers from their Keras-style specs: {"type": "Dense", "units": 128, "activation": "relu"}.
// Every layer's config() is such a spec, so make_layer(layer.config()) rebuilds the layer
// (unbuilt: parameters come from build(), or from a model file).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/layers/layer.h"

namespace nnkit {

// Throws ValueError naming the layer type and the argument on an unknown type, an unknown or
// ill-typed argument, or a value out of range; ShapeError never (shapes come at build()).
std::unique_ptr<Layer> make_layer(const nlohmann::json& spec);

// The type names make_layer() accepts, sorted: Keras's class names, including the activation
// layers (ReLU, LeakyReLU, ELU, Softmax) that become an Activation layer.
std::vector<std::string> layer_types();

}  // namespace nnkit
