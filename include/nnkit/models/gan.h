// Generative adversarial network (Goodfellow et al., 2014): a generator G maps noise z ~ N(0, I)
// to samples; a discriminator D maps a sample to the probability that it is real. They are
// trained in turn: D to tell real samples from G's (binary cross-entropy, real = 1, fake = 0),
// G to make D call its samples real, by the non-saturating loss −log D(G(z)) (its gradient
// stays large while D easily rejects G's samples, unlike log(1 − D(G(z)))).
//
//   Sequential g({.input_shape = {8}}), d;
//   g.add(Dense({.units = 64, .activation = "relu"})).add(Dense({.units = 2}));
//   d.add(Dense({.units = 64, .activation = "leaky_relu"})).add(Dense({.units = 1}));
//   g.compile(make_adam({.learning_rate = 1e-3f}), make_loss("binary_crossentropy"));
//   d.compile(make_adam({.learning_rate = 1e-3f}), make_loss("binary_crossentropy"));
//   Gan gan(std::move(g), std::move(d), /*seed=*/1);
//   gan.train(data, {.epochs = 50, .batch_size = 128});
//   Tensor samples = gan.sample(1000);
//
// Choices, fixed here for every function below:
// - D's output: when its last layer ends in a sigmoid (Dense or Activation with "sigmoid")
//   the output is taken as the probability p and the gradient enters through the pre-
//   activation (p − t, stable); otherwise the output is taken as the logit z, with the loss
//   softplus(z) − t·z computed stably. Losses are means over the batch. The models' compiled
//   losses are not used; their optimizers are (compile() is needed for them).
// - The discriminator step runs D (Mode::Train) on a real batch and on a fake batch G(z) of the
//   same size, separately (so that batch statistics never mix real and fake), adds both
//   gradients and takes one step of D's optimizer. Its loss is BCE(real, 1) + BCE(fake, 0).
//   G runs in Mode::Train there as well (the samples D learns to reject are the ones the
//   generator step will produce); no gradient reaches G.
// - The generator step runs G and D in Mode::Train (D with the batch statistics and dropout it
//   was trained with), backpropagates −log D(G(z)) through D into G and steps G's optimizer
//   only. D's gradients are computed (left in its params' grads) but not applied, and D's
//   non-trainable state (BatchNormalization's running statistics) is restored afterwards:
//   the generator step changes no tensor of D. D's dropout generators do advance.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "nnkit/model.h"
#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

struct GanOptions {
  int epochs = 1;               // >= 1
  int64_t batch_size = 64;      // >= 1, at most the number of samples
  int discriminator_steps = 1;  // k >= 1: discriminator steps per generator step
};

// One discriminator step: its loss and the mean probabilities D gave the real and fake batches
// (before its update).
struct DiscriminatorStep {
  double loss = 0, d_real = 0, d_fake = 0;
};

// Means over an epoch's steps: d_loss, d_real (D(x)) and d_fake (D(G(z))) over its
// discriminator steps, g_loss over its generator steps.
struct GanEpoch {
  int epoch = 0;  // 0-based
  double d_loss = 0, g_loss = 0, d_real = 0, d_fake = 0;
};

class Gan {
 public:
  // G: noise [N, z] -> samples [N, ...sample]; its input_shape must be given, {z}. D: samples
  // -> [N, 1]; built for G's output shape when not built. Both must be compiled (for their
  // optimizers). Throws ValueError naming the model and what is wrong (not compiled, no or a
  // non-vector input shape, D's input shape not G's output shape, D's output not [1]).
  // `seed` drives the noise and the shuffling of the training data.
  Gan(Sequential generator, Sequential discriminator, uint64_t seed = 1);

  Sequential& generator() { return generator_; }
  Sequential& discriminator() { return discriminator_; }
  int64_t noise_dim() const { return noise_dim_; }

  // n >= 1 rows of N(0, 1) noise, [n, z], from the GAN's generator of random numbers.
  Tensor noise(int64_t n);
  // G(noise(n)) in Mode::Infer: [n, ...sample].
  Tensor sample(int64_t n);
  // D's probability that each sample is real, Mode::Infer: x [N, ...sample] -> [N, 1].
  Tensor probability(const Tensor& x);

  // One discriminator step on `real` [N, ...sample] and fakes G(z), z [N, noise_dim] (same N).
  // Throws ShapeError when the shapes do not fit.
  DiscriminatorStep discriminator_step(const Tensor& real, const Tensor& z);
  // One generator step on z [N, noise_dim]; returns −mean log D(G(z)) before the update.
  // Throws ShapeError when z does not fit.
  double generator_step(const Tensor& z);

  // Alternating training on `data` [samples, ...sample]: each epoch shuffles the data and runs a
  // discriminator step on each full batch (a last partial batch is dropped), and a generator
  // step (on fresh noise, batch_size rows) after every k of them (counted across epochs).
  // `on_epoch` is called after each epoch with its means. Returns every epoch's means. Throws
  // ValueError on bad options (naming the option) and ShapeError when the samples are not G's
  // output shape.
  std::vector<GanEpoch> train(const Tensor& data, const GanOptions& options = {},
                              const std::function<void(const GanEpoch&)>& on_epoch = {});

 private:
  // Loss of D's output `out` against target t (0 or 1), and its gradient with respect to the
  // output (logit D) or the pre-activation (sigmoid D); also the mean probability.
  double loss_and_gradient(const Tensor& out, float target, Tensor& grad, double& mean_p) const;
  // Backpropagates `grad` (from loss_and_gradient) through D; returns dL/dx.
  Tensor discriminator_backward(const Tensor& grad);

  Sequential generator_, discriminator_;
  int64_t noise_dim_ = 0;
  bool sigmoid_output_ = false;  // D's last layer applies a sigmoid
  Rng rng_;
};

}  // namespace nnkit
