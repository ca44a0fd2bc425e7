// The pooling, padding and spatial dropout layers inside a Sequential model: built from a spec,
// trained, summarised, saved and loaded.
#include <gtest/gtest.h>

#include <cmath>

#include "gradient_check.h"
#include "nnkit/io/model_file.h"
#include "nnkit/model.h"
#include "scratch_dir.h"

namespace nnkit {
namespace {

nlohmann::json image_spec() {
  return {{"input_shape", {2, 9, 9}},
          {"layers",
           {{{"type", "ZeroPadding2D"}, {"padding", {{1, 0}, {0, 1}}}},
            {{"type", "MaxPooling2D"}, {"pool_size", 3}, {"strides", 2}, {"padding", "same"}},
            {{"type", "SpatialDropout2D"}, {"rate", 0.25}},
            {{"type", "AveragePooling2D"}, {"pool_size", 2}, {"padding", "same"}},
            {{"type", "Flatten"}},
            {{"type", "Dense"}, {"units", 3}, {"activation", "softmax"}}}},
          {"loss", "sparse_categorical_crossentropy"},
          {"optimizer", {{"type", "adam"}, {"learning_rate", 0.01}}},
          {"metrics", {"accuracy"}},
          {"seed", 3}};
}

TEST(ImageLayers, TrainSaveAndLoadInASequentialModel) {
  Sequential model = Sequential::from_spec(image_spec());
  // 9x9 padded to 10x10, max-pooled (3, stride 2, same) to 5x5, average-pooled (2, same) to 3x3.
  EXPECT_EQ(model.output_shape(), (Shape{3}));
  EXPECT_NE(model.summary().find("(None, 2, 5, 5)"), std::string::npos) << model.summary();
  Rng rng(4);
  Tensor x = testing::random_tensor({40, 2, 9, 9}, rng);
  Tensor y({40});
  for (int i = 0; i < 40; ++i) y[i] = static_cast<float>(i % 3);
  History history = model.fit(x, y, {.epochs = 3, .batch_size = 8});
  for (double loss : history["loss"]) EXPECT_TRUE(std::isfinite(loss));

  testing::ScratchDir dir;
  save_model(dir.file("m.safetensors"), model);
  Sequential loaded = load_model(dir.file("m.safetensors"));
  EXPECT_EQ(loaded.spec()["layers"], model.spec()["layers"]);
  EXPECT_EQ(loaded.predict(x).to_vector(), model.predict(x).to_vector());
}

TEST(ImageLayers, GlobalPoolingEndsAModel) {
  nlohmann::json spec = {{"input_shape", {4, 6, 5}},
                         {"layers",
                          {{{"type", "GlobalAveragePooling2D"}, {"keepdims", true}},
                           {{"type", "Flatten"}},
                           {{"type", "Dense"}, {"units", 2}}}}};
  EXPECT_EQ(Sequential::from_spec(spec).output_shape(), (Shape{2}));
  spec["layers"][0] = {{"type", "GlobalMaxPooling2D"}};
  EXPECT_EQ(Sequential::from_spec(spec).output_shape(), (Shape{2}));
}

}  // namespace
}  // namespace nnkit
