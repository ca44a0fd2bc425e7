#include "nnkit/layers/registry.h"

#include <gtest/gtest.h>

#include <string>

#include "nnkit/error.h"
#include "nnkit/layers.h"

namespace nnkit {
namespace {

using nlohmann::json;

// The message of the ValueError make_layer(spec) throws, or "" (failing the test) if none.
std::string error_of(const json& spec) {
  try {
    make_layer(spec);
  } catch (const ValueError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ValueError for " << spec.dump();
  return "";
}

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

class RoundTrip : public ::testing::TestWithParam<json> {};

// make_layer(spec)->config() is a full spec; reading it back gives the same config.
TEST_P(RoundTrip, ConfigRebuildsAnEqualLayer) {
  std::unique_ptr<Layer> layer = make_layer(GetParam());
  json config = layer->config();
  EXPECT_EQ(make_layer(config)->config(), config);
  EXPECT_EQ(config["type"], layer->type());
  // Every argument given survives, with its value.
  for (const auto& [key, value] : GetParam().items()) {
    if (key == "type") continue;
    if (config.contains(key)) {
      EXPECT_EQ(config[key], value) << key;
    } else {
      ADD_FAILURE() << key << " missing from " << config.dump();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryLayer, RoundTrip,
    ::testing::Values(json{{"type", "Dense"}, {"units", 3}},
                      json{{"type", "Dense"},
                           {"units", 128},
                           {"activation", "leaky_relu"},
                           {"alpha", 0.1},
                           {"use_bias", false},
                           {"kernel_initializer", "he_normal"},
                           {"bias_initializer", {{"type", "constant"}, {"value", 0.5}}}},
                      json{{"type", "Activation"}, {"activation", "softmax"}},
                      json{{"type", "Activation"}, {"activation", "elu"}, {"alpha", 0.5}},
                      json{{"type", "Dropout"}, {"rate", 0.3}},
                      json{{"type", "BatchNormalization"}},
                      json{{"type", "BatchNormalization"},
                           {"axis", -1},
                           {"momentum", 0.9},
                           {"epsilon", 1e-5},
                           {"center", false},
                           {"scale", false},
                           {"gamma_initializer", "zeros"}},
                      json{{"type", "Flatten"}},
                      json{{"type", "Reshape"}, {"target_shape", {4, -1}}}, json{{"type", "PReLU"}},
                      json{{"type", "PReLU"}, {"shared_axes", {2, 3}}},
                      json{{"type", "Maxout"}, {"units", 4}, {"pieces", 3}},
                      json{{"type", "SimpleRNN"}, {"units", 8}},
                      json{{"type", "SimpleRNN"},
                           {"units", 8},
                           {"activation", "relu"},
                           {"use_bias", false},
                           {"return_sequences", true},
                           {"go_backwards", true},
                           {"recurrent_initializer", "glorot_uniform"}},
                      json{{"type", "GRU"}, {"units", 16}},
                      json{{"type", "GRU"},
                           {"units", 16},
                           {"activation", "softsign"},
                           {"recurrent_activation", "hard_sigmoid"},
                           {"return_sequences", true},
                           {"go_backwards", true},
                           {"kernel_initializer", "he_uniform"},
                           {"bias_initializer", "ones"}},
                      json{{"type", "Conv2D"}, {"filters", 32}, {"kernel_size", {3, 3}}},
                      json{{"type", "Conv2D"},
                           {"filters", 6},
                           {"kernel_size", {3, 5}},
                           {"strides", {1, 1}},
                           {"padding", "same"},
                           {"dilation_rate", {2, 1}},
                           {"activation", "relu"},
                           {"use_bias", false},
                           {"kernel_initializer", "he_uniform"},
                           {"bias_initializer", "ones"}}));

// The pooling, padding and spatial dropout layers; config() writes pool sizes and strides as
// pairs and ZeroPadding2D's padding in full, so the arguments here are in those forms.
INSTANTIATE_TEST_SUITE_P(
    ImageLayers, RoundTrip,
    ::testing::Values(json{{"type", "MaxPooling2D"}},
                      json{{"type", "MaxPooling2D"},
                           {"pool_size", {3, 2}},
                           {"strides", {1, 2}},
                           {"padding", "same"}},
                      json{{"type", "AveragePooling2D"}, {"pool_size", {2, 2}}},
                      json{{"type", "AveragePooling2D"}, {"strides", {1, 1}}, {"padding", "same"}},
                      json{{"type", "GlobalAveragePooling2D"}},
                      json{{"type", "GlobalMaxPooling2D"}, {"keepdims", true}},
                      json{{"type", "ZeroPadding2D"}},
                      json{{"type", "ZeroPadding2D"}, {"padding", {{1, 2}, {0, 3}}}},
                      json{{"type", "SpatialDropout2D"}, {"rate", 0.2}}));

TEST(MakeLayer, BuildsEachTypeItNames) {
  for (const std::string& type : layer_types()) {
    json spec = {{"type", type}};
    const bool recurrent = type == "GRU" || type == "SimpleRNN" || type == "LSTM";
    if (type == "Dense" || type == "Maxout" || type == "RBF" || recurrent) spec["units"] = 2;
    if (type == "Bidirectional") spec["layer"] = {{"type", "LSTM"}, {"units", 2}};
    const bool sequences = recurrent || type == "Bidirectional";
    if (type == "Dropout" || type == "SpatialDropout2D") spec["rate"] = 0.5;
    if (type == "Reshape") spec["target_shape"] = {-1};
    if (type == "Conv2D" || type == "Conv2DTranspose") {
      spec.update({{"filters", 2}, {"kernel_size", 3}});
    }
    std::unique_ptr<Layer> layer = make_layer(spec);
    ASSERT_NE(layer, nullptr) << type;
    Rng rng(81);
    // Recurrent layers take sequences [steps, features] and return the last step's h; Masking
    // takes sequences and returns them.
    if (type == "Masking") {
      EXPECT_EQ(layer->build(Shape{3, 4}, rng), (Shape{3, 4}));
      continue;
    }
    if (type == "Conv2D") {
      EXPECT_EQ(layer->build(Shape{1, 4, 4}, rng), (Shape{2, 2, 2}));
      continue;
    }
    if (type == "Conv2DTranspose") {
      EXPECT_EQ(layer->build(Shape{1, 4, 4}, rng), (Shape{2, 6, 6}));
      continue;
    }
    // Image layers take [C, H, W]; global pooling returns [C], the others images.
    const bool pooling = type == "MaxPooling2D" || type == "AveragePooling2D";
    const bool global = type == "GlobalAveragePooling2D" || type == "GlobalMaxPooling2D";
    if (pooling || global || type == "ZeroPadding2D" || type == "SpatialDropout2D" ||
        type == "UpSampling2D") {
      EXPECT_EQ(layer->build(Shape{2, 4, 4}, rng).size(), global ? 1u : 3u) << type;
      continue;
    }
    EXPECT_EQ(layer->build(sequences ? Shape{3, 4} : Shape{4}, rng).size(), 1u) << type;
  }
}

TEST(MakeLayer, MapsKerasActivationLayersToActivation) {
  std::unique_ptr<Layer> leaky = make_layer({{"type", "LeakyReLU"}, {"alpha", 0.1}});
  EXPECT_EQ(leaky->type(), "Activation");
  EXPECT_EQ(leaky->config(),
            (json{{"type", "Activation"}, {"activation", "leaky_relu"}, {"alpha", 0.1}}));
  EXPECT_EQ(make_layer(leaky->config())->config(), leaky->config());
  EXPECT_EQ(make_layer({{"type", "ELU"}, {"alpha", 1.0}})->config()["activation"], "elu");
  EXPECT_EQ(make_layer({{"type", "Softmax"}})->output_activation(), "softmax");
  EXPECT_EQ(make_layer({{"type", "ReLU"}})->config()["activation"], "relu");
}

TEST(MakeLayer, NamesAnUnknownTypeAndTheClosestKnownOne) {
  std::string message = error_of({{"type", "Dens"}, {"units", 3}});
  EXPECT_CONTAINS(message, "unknown layer type 'Dens' (did you mean 'Dense'?)");
  EXPECT_CONTAINS(message,
                  "known types: Activation, AveragePooling2D, BatchNormalization, Bidirectional, "
                  "Conv2D, Conv2DTranspose, Dense");
  EXPECT_CONTAINS(error_of({{"type", "Transformer"}}), "unknown layer type 'Transformer'; known");
  EXPECT_CONTAINS(error_of({{"units", 3}}), "\"type\"");
  EXPECT_CONTAINS(error_of({{"type", 3}}), "\"type\"");
  EXPECT_CONTAINS(error_of(json::array()), "expected a JSON object");
}

TEST(MakeLayer, NamesAnUnknownArgumentAndTheClosestValidOne) {
  EXPECT_CONTAINS(error_of({{"type", "Dense"}, {"unit", 3}}),
                  "Dense: unknown argument 'unit'; did you mean 'units'?");
  std::string message = error_of({{"type", "Dropout"}, {"rate", 0.1}, {"noise_shape", {1, 2}}});
  EXPECT_CONTAINS(message, "Dropout: unknown argument 'noise_shape'; valid arguments: rate");
  EXPECT_CONTAINS(error_of({{"type", "Flatten"}, {"data_format", "channels_last"}}),
                  "Flatten: unknown argument 'data_format'; valid arguments: none");
  EXPECT_CONTAINS(error_of({{"type", "BatchNormalization"}, {"Momentum", 0.9}}),
                  "did you mean 'momentum'?");
}

TEST(MakeLayer, NamesAnIllTypedArgument) {
  EXPECT_CONTAINS(error_of({{"type", "Dense"}, {"units", "128"}}),
                  "Dense: argument 'units' must be an integer, got \"128\"");
  EXPECT_CONTAINS(error_of({{"type", "Dense"}, {"units", 2.5}}),
                  "Dense: argument 'units' must be an integer, got 2.5");
  EXPECT_CONTAINS(error_of({{"type", "Dense"}, {"units", 2}, {"use_bias", 1}}),
                  "Dense: argument 'use_bias' must be true or false, got 1");
  EXPECT_CONTAINS(error_of({{"type", "Dropout"}, {"rate", "high"}}),
                  "Dropout: argument 'rate' must be a number");
  EXPECT_CONTAINS(error_of({{"type", "Reshape"}, {"target_shape", {2, "x"}}}),
                  "Reshape: argument 'target_shape' must be a list of integers");
  EXPECT_CONTAINS(error_of({{"type", "Dense"}, {"units", 2}, {"kernel_initializer", "glorot"}}),
                  "Dense: argument 'kernel_initializer': unknown initializer 'glorot'");
}

TEST(MakeLayer, NamesMissingAndOutOfRangeValues) {
  EXPECT_CONTAINS(error_of({{"type", "Dense"}}), "Dense: missing required argument 'units'");
  EXPECT_CONTAINS(error_of({{"type", "Dense"}, {"units", -1}}), "units must be positive");
  EXPECT_CONTAINS(error_of({{"type", "Dense"}, {"units", 2}, {"activation", "rleu"}}),
                  "unknown activation 'rleu'");
  EXPECT_CONTAINS(error_of({{"type", "Dropout"}, {"rate", 1.5}}), "rate must be in [0, 1)");
  EXPECT_CONTAINS(error_of({{"type", "Reshape"}}), "Reshape: missing required argument");
}

TEST(MakeLayer, TreatsKerasNullActivationAsLinear) {
  EXPECT_EQ(make_layer({{"type", "Dense"}, {"units", 2}, {"activation", nullptr}})
                ->config()["activation"],
            "linear");
}

}  // namespace
}  // namespace nnkit
