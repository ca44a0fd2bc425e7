// SpatialDropout2D: dropout of whole channels. In training, each channel of each image of
// [N, C, H, W] is zeroed with probability rate, and the kept ones are scaled by 1 / (1 − rate)
// (one Bernoulli draw per (sample, channel), as Keras's SpatialDropout2D and PyTorch's
// Dropout2d); at inference, the identity. Neighbouring pixels of a feature map are strongly
// correlated, so dropping single pixels (Dropout) barely regularises a convolutional layer;
// dropping whole maps does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/layers/layer.h"
#include "nnkit/random.h"

namespace nnkit {

// SpatialDropout2D({.rate = 0.2f})
struct SpatialDropout2DOptions {
  float rate = 0.5f;  // in [0, 1)
};

class SpatialDropout2D final : public Layer {
 public:
  // Throws ValueError unless 0 <= rate < 1.
  explicit SpatialDropout2D(SpatialDropout2DOptions options);
  // {"type": "SpatialDropout2D", "rate": 0.2}; rate is required, as in Keras.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "SpatialDropout2D"; }
  // [C, H, W] -> the same. Throws ShapeError unless the input is [C, H, W]. Splits the layer's
  // own generator for the masks off rng, as Dropout: a model built from the same seed draws the
  // same masks, batch after batch; building again restarts that sequence.
  Shape build(const Shape& input, Rng& rng) override;
  // Train: draws a fresh mask for every call, one value per (sample, channel) in that order,
  // and keeps it. Infer: returns x unchanged.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dx = dy scaled per channel by the mask of the last training forward.
  Tensor backward(const Tensor& dy) override;
  nlohmann::json config() const override;

  float rate() const { return options_.rate; }
  // The mask generator, for checkpoints that resume mid-run with the same masks.
  Rng& mask_rng() { return rng_; }
  std::vector<Rng*> rngs() override { return {&rng_}; }

 private:
  std::string who() const;

  SpatialDropout2DOptions options_;
  bool built_ = false;
  Rng rng_;
  // Forward cache (Train only).
  bool cached_ = false;
  Shape x_shape_;
  std::vector<float> mask_;  // [N, C]: 0 or 1 / (1 − rate)
};

}  // namespace nnkit
