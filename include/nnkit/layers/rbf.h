// RBF: a layer of Gaussian radial basis functions, φ_j(x) = exp(−β_j ‖x − c_j‖²), the hidden
// layer of an RBF network (RBF(k) then Dense). Parameters, trainable, in PyTorch-style names:
// "centers" [units, in] and "log_betas" [units], β_j = exp(log_beta_j). The log keeps every
// width positive without a constraint, and makes a gradient step change β by a factor rather
// than an amount, which suits widths that differ between centres by orders of magnitude
// (softplus would also stay positive, but its gradient vanishes as β nears 0, exactly where a
// wide basis function needs to move).
//
// With initializer "kmeans" (the default) the centres come from k-means on the training data
// through Layer::adapt (called by Sequential::fit), and each width from the mean distance σ_j
// of its cluster's points to the centre: β_j = 1 / (2σ_j²). With "random", or until adapt
// runs, the centres are uniform in [−1, 1) (inputs are expected standardised) and β_j = 1.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nnkit/layers/layer.h"

namespace nnkit {

struct RBFOptions {
  int64_t units = 0;                   // required, > 0: the number of centres
  std::string initializer = "kmeans";  // "kmeans" or "random"
  int kmeans_iterations = 100;         // Lloyd iterations at most, >= 1
};

class RBF final : public Layer {
 public:
  // Throws ValueError on units <= 0, an unknown initializer, or kmeans_iterations < 1.
  explicit RBF(RBFOptions options);
  // {"type": "RBF", "units": 20, "initializer": "kmeans"}; throws ValueError on unknown or
  // ill-typed arguments.
  static std::unique_ptr<Layer> from_config(const nlohmann::json& config);

  std::string type() const override { return "RBF"; }
  // input: [in] -> [units]. Draws the centres from rng. Throws ShapeError for another rank.
  Shape build(const Shape& input, Rng& rng) override;
  // x: [N, in] -> [N, units]. Train keeps x, the squared distances and the output.
  Tensor forward(const Tensor& x, Mode mode) override;
  // dy: [N, units] -> dx: [N, in]. Adds into the grads of centers and log_betas.
  Tensor backward(const Tensor& dy) override;
  std::vector<Param*> params() override;  // "centers" [units, in], then "log_betas" [units]
  nlohmann::json config() const override;

  // True for initializer "kmeans" while the centres are still those build() drew: not yet
  // adapted, trained or loaded from a file, so a second fit() or a model file continued with
  // `nnkit train --model` keeps its centres.
  bool wants_adapt() const override;
  // Runs k-means on inputs [samples, in] with rng and sets the centres and widths from it
  // (σ_j = 0, a cluster on one point, takes the mean σ of the others; all 0 gives β = 1).
  // Throws ShapeError on a shape other than [samples, in], ValueError with fewer samples than
  // units.
  void adapt(const Tensor& inputs, Rng& rng) override;

  const RBFOptions& options() const { return options_; }

 private:
  std::string who() const;
  void clear_cache();

  RBFOptions options_;
  int64_t in_features_ = 0;
  Param centers_{"centers", Tensor(), Tensor()};
  Param log_betas_{"log_betas", Tensor(), Tensor()};
  Tensor built_centers_;  // the centres as build() drew them, for wants_adapt()
  bool adapted_ = false;
  // Forward cache (Train only).
  Tensor x_;    // input [N, in]
  Tensor d2_;   // squared distances [N, units]
  Tensor phi_;  // output [N, units]
};

}  // namespace nnkit
