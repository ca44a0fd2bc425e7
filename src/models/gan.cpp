#include "nnkit/models/gan.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

namespace {

// log(1 + e^z) without overflow for large z or loss of precision for very negative z.
double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z))); }

void check_batch(const char* who, const char* what, const Tensor& t, const Shape& sample) {
  Shape got = t.rank() >= 1 ? Shape(t.shape().begin() + 1, t.shape().end()) : Shape{};
  if (t.rank() < 1 || t.dim(0) == 0 || got != sample) {
    throw ShapeError(fmt::format("Gan::{}: {} must hold N >= 1 samples of shape {}, got {}", who,
                                 what, shape_to_string(sample), shape_to_string(t.shape())));
  }
}

}  // namespace

Gan::Gan(Sequential generator, Sequential discriminator, uint64_t seed)
    : generator_(std::move(generator)), discriminator_(std::move(discriminator)), rng_(seed) {
  if (generator_.size() == 0 || discriminator_.size() == 0)
    throw ValueError("Gan: the generator and the discriminator need layers");
  if (generator_.input_shape().size() != 1) {
    throw ValueError(fmt::format(
        "Gan: the generator's input_shape must be {{noise_dim}}, got {}",
        generator_.input_shape().empty() ? "none" : shape_to_string(generator_.input_shape())));
  }
  if (!generator_.compiled()) throw ValueError("Gan: compile the generator (for its optimizer)");
  if (!discriminator_.compiled())
    throw ValueError("Gan: compile the discriminator (for its optimizer)");
  noise_dim_ = generator_.input_shape()[0];
  if (!generator_.built()) generator_.build(generator_.input_shape());
  const Shape sample = generator_.output_shape();
  if (!discriminator_.built()) discriminator_.build(sample);
  if (discriminator_.input_shape() != sample) {
    throw ValueError(
        fmt::format("Gan: the discriminator takes samples of shape {}, the generator makes {}",
                    shape_to_string(discriminator_.input_shape()), shape_to_string(sample)));
  }
  if (discriminator_.output_shape() != Shape{1}) {
    throw ValueError(fmt::format("Gan: the discriminator must output [1] per sample, got {}",
                                 shape_to_string(discriminator_.output_shape())));
  }
  // The generator step needs dL/dx of D's first layer, which Sequential lets it skip.
  discriminator_.layer(0).set_input_gradient_needed(true);
  sigmoid_output_ =
      discriminator_.layer(discriminator_.size() - 1).output_activation() == "sigmoid";
}

Tensor Gan::noise(int64_t n) {
  if (n < 1) throw ValueError(fmt::format("Gan::noise: n must be >= 1, got {}", n));
  Tensor z({n, noise_dim_});
  for (float& v : z) v = rng_.normal();
  return z;
}

Tensor Gan::sample(int64_t n) {
  if (n < 1) throw ValueError(fmt::format("Gan::sample: n must be >= 1, got {}", n));
  return generator_.forward(noise(n), Mode::Infer);
}

Tensor Gan::probability(const Tensor& x) {
  check_batch("probability", "x", x, discriminator_.input_shape());
  Tensor out = discriminator_.forward(x, Mode::Infer);
  if (!sigmoid_output_)
    for (float& v : out) v = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(v))));
  return out;
}

double Gan::loss_and_gradient(const Tensor& out, float target, Tensor& grad, double& mean_p) const {
  const int64_t n = out.dim(0);
  grad = Tensor(out.shape());
  double loss = 0, p_sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double o = out.data()[i];
    // p − t is the gradient with respect to the logit in both cases: for a logit output it is
    // the gradient itself, for a sigmoid output the one backward_preactivation() takes.
    const double p = sigmoid_output_ ? o : 1.0 / (1.0 + std::exp(-o));
    if (sigmoid_output_) {
      // Clipped as Keras's binary cross-entropy, so that a saturated D gives a finite loss.
      const double pc = std::clamp(p, 1e-7, 1.0 - 1e-7);
      loss += -(target * std::log(pc) + (1.0 - target) * std::log(1.0 - pc));
    } else {
      loss += softplus(o) - target * o;
    }
    p_sum += p;
    grad.data()[i] = static_cast<float>((p - target) / static_cast<double>(n));
  }
  mean_p = p_sum / static_cast<double>(n);
  return loss / static_cast<double>(n);
}

Tensor Gan::discriminator_backward(const Tensor& grad) {
  const std::size_t last = discriminator_.size() - 1;
  Tensor g = sigmoid_output_ ? discriminator_.layer(last).backward_preactivation(grad)
                             : discriminator_.layer(last).backward(grad);
  for (std::size_t i = last; i-- > 0;) g = discriminator_.layer(i).backward(g);
  return g;
}

DiscriminatorStep Gan::discriminator_step(const Tensor& real, const Tensor& z) {
  check_batch("discriminator_step", "real", real, discriminator_.input_shape());
  check_batch("discriminator_step", "z", z, {noise_dim_});
  if (real.dim(0) != z.dim(0)) {
    throw ShapeError(fmt::format("Gan::discriminator_step: real has {} samples but z has {}",
                                 real.dim(0), z.dim(0)));
  }
  const Tensor fake = generator_.forward(z, Mode::Train);
  DiscriminatorStep step;
  Tensor grad;
  discriminator_.zero_grad();
  double loss =
      loss_and_gradient(discriminator_.forward(real, Mode::Train), 1.0f, grad, step.d_real);
  discriminator_backward(grad);
  loss += loss_and_gradient(discriminator_.forward(fake, Mode::Train), 0.0f, grad, step.d_fake);
  discriminator_backward(grad);
  discriminator_.optimizer()->step(discriminator_.trainable_params());
  step.loss = loss;
  return step;
}

double Gan::generator_step(const Tensor& z) {
  check_batch("generator_step", "z", z, {noise_dim_});
  // D's state (running statistics) as it was: the forward pass below runs in Mode::Train.
  std::vector<std::pair<Param*, Tensor>> state;
  for (auto& [name, p] : discriminator_.named_params())
    if (!p->trainable) state.emplace_back(p, p->value);

  generator_.zero_grad();
  discriminator_.zero_grad();
  const Tensor fake = generator_.forward(z, Mode::Train);
  Tensor grad;
  double mean_p = 0;
  const double loss =
      loss_and_gradient(discriminator_.forward(fake, Mode::Train), 1.0f, grad, mean_p);
  Tensor g = discriminator_backward(grad);
  for (std::size_t i = generator_.size(); i-- > 0;) g = generator_.layer(i).backward(g);
  generator_.optimizer()->step(generator_.trainable_params());

  for (auto& [p, value] : state) p->value = std::move(value);
  return loss;
}

std::vector<GanEpoch> Gan::train(const Tensor& data, const GanOptions& options,
                                 const std::function<void(const GanEpoch&)>& on_epoch) {
  if (options.epochs < 1)
    throw ValueError(fmt::format("Gan::train: epochs must be >= 1, got {}", options.epochs));
  if (options.discriminator_steps < 1) {
    throw ValueError(fmt::format("Gan::train: discriminator_steps must be >= 1, got {}",
                                 options.discriminator_steps));
  }
  check_batch("train", "data", data, discriminator_.input_shape());
  const int64_t n = data.dim(0);
  if (options.batch_size < 1 || options.batch_size > n) {
    throw ValueError(fmt::format("Gan::train: batch_size must be in [1, {}] (the samples), got {}",
                                 n, options.batch_size));
  }
  const int64_t batches = n / options.batch_size;
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::vector<GanEpoch> history;
  int64_t d_steps = 0;  // counted across epochs, so that k may exceed an epoch's batches
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    // Fisher–Yates with the GAN's own generator, so that a seed gives one run.
    for (int64_t i = n - 1; i > 0; --i)
      std::swap(order[i], order[rng_.below(static_cast<uint64_t>(i + 1))]);
    GanEpoch e;
    e.epoch = epoch;
    int64_t g_steps = 0;
    for (int64_t b = 0; b < batches; ++b) {
      const Tensor real =
          data.gather_rows(order.data() + b * options.batch_size, options.batch_size);
      const DiscriminatorStep d = discriminator_step(real, noise(options.batch_size));
      e.d_loss += d.loss;
      e.d_real += d.d_real;
      e.d_fake += d.d_fake;
      if (++d_steps % options.discriminator_steps == 0) {
        e.g_loss += generator_step(noise(options.batch_size));
        ++g_steps;
      }
    }
    e.d_loss /= static_cast<double>(batches);
    e.d_real /= static_cast<double>(batches);
    e.d_fake /= static_cast<double>(batches);
    if (g_steps > 0) e.g_loss /= static_cast<double>(g_steps);
    history.push_back(e);
    if (on_epoch) on_epoch(e);
  }
  return history;
}

}  // namespace nnkit
