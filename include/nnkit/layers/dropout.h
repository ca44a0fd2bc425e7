// Dropout: in training, zeroes each input element with probability rate and scales the kept
// ones by 1 / (1 − rate) ("inverted" dropout, as Keras and PyTorch); at inference, the identity.
#pragma once

#include <memory>
#include <string>

#include "nnkit/layers/layer.h"
#include "nnkit/random.h"

namespace nnkit {

// Dropout({.rate = 0.3f})
struct DropoutOptions {
  float rate = 0.5f;  // in [0, 1)
};

class Dropout final : public Layer {
 public:
  // Throws ValueError unless 0 <= rate < 1.
  explicit Dropout(DropoutOptions options);
  // {"type": "Dropout", "rate": 0.3}; rate is required, as in Keras.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "Dropout"; }
  // Any input shape; the output has the same. Splits the layer's own generator for the masks
  // off rng, so a model built from the same seed draws the same masks, batch after batch;
  // building again restarts that sequence.
  Shape build(const Shape& input, Rng& rng) override;
  // Train: draws a fresh mask for every call and keeps it. Infer: returns x unchanged.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dx = dy ⊙ mask, the mask of the last training forward.
  Tensor backward(const Tensor& dy) override;
  nlohmann::json config() const override;

  float rate() const { return options_.rate; }
  // The mask generator, for checkpoints that resume mid-run with the same masks.
  Rng& mask_rng() { return rng_; }
  std::vector<Rng*> rngs() override { return {&rng_}; }

 private:
  std::string who() const;

  DropoutOptions options_;
  bool built_ = false;
  Rng rng_;
  // Forward cache (Train only): 0 or 1 / (1 − rate) per element.
  bool cached_ = false;
  Tensor mask_;
};

}  // namespace nnkit
