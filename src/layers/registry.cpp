#include "nnkit/layers/registry.h"

#include <algorithm>
#include <utility>

#include "fmt/format.h"
#include "fmt/ranges.h"
#include "nnkit/error.h"
#include "nnkit/layers.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

using Factory = std::unique_ptr<Layer> (*)(const nlohmann::json&);

// One line per type name; a new layer adds its from_config() here.
const std::pair<const char*, Factory> kFactories[] = {
    {"Activation", &ActivationLayer::from_config},
    {"AveragePooling2D", &AveragePooling2D::from_config},
    {"BatchNormalization", &BatchNormalization::from_config},
    {"Bidirectional", &Bidirectional::from_config},
    {"Conv2D", &Conv2D::from_config},
    {"Conv2DTranspose", &Conv2DTranspose::from_config},
    {"Dense", &Dense::from_config},
    {"Dropout", &Dropout::from_config},
    {"ELU", &ActivationLayer::from_config},
    {"Flatten", &Flatten::from_config},
    {"GRU", &GRU::from_config},
    {"GlobalAveragePooling2D", &GlobalAveragePooling2D::from_config},
    {"GlobalMaxPooling2D", &GlobalMaxPooling2D::from_config},
    {"LSTM", &LSTM::from_config},
    {"LeakyReLU", &ActivationLayer::from_config},
    {"Masking", &Masking::from_config},
    {"MaxPooling2D", &MaxPooling2D::from_config},
    {"Maxout", &Maxout::from_config},
    {"PReLU", &PReLU::from_config},
    {"RBF", &RBF::from_config},
    {"ReLU", &ActivationLayer::from_config},
    {"Reshape", &Reshape::from_config},
    {"SimpleRNN", &SimpleRNN::from_config},
    {"Softmax", &ActivationLayer::from_config},
    {"SpatialDropout2D", &SpatialDropout2D::from_config},
    {"UpSampling2D", &UpSampling2D::from_config},
    {"ZeroPadding2D", &ZeroPadding2D::from_config},
};

}  // namespace

std::vector<std::string> layer_types() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : kFactories) names.emplace_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

std::unique_ptr<Layer> make_layer(const nlohmann::json& spec) {
  if (!spec.is_object()) {
    throw ValueError(
        fmt::format("layer spec: expected a JSON object with a \"type\", got {}", spec.dump()));
  }
  auto type = spec.find("type");
  if (type == spec.end() || !type->is_string()) {
    throw ValueError(fmt::format("layer spec: expected \"type\" to name a layer (a string), in {}",
                                 spec.dump()));
  }
  const std::string name = type->get<std::string>();
  for (const auto& [known, factory] : kFactories) {
    if (name == known) return factory(spec);
  }
  std::vector<std::string> names = layer_types();
  std::string hint = detail::closest_match(name, names);
  throw ValueError(fmt::format("unknown layer type '{}'{}; known types: {}", name,
                               hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                               fmt::join(names, ", ")));
}

}  // namespace nnkit
