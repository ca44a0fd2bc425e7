#include "nnkit/layers/rbf.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"
#include "layer_util.h"
#include "nnkit/cluster/kmeans.h"
#include "nnkit/error.h"
#include "nnkit/kernels/gemm.h"
#include "spec_reader.h"

namespace nnkit {

RBF::RBF(RBFOptions options) : options_(std::move(options)) {
  if (options_.units <= 0) {
    throw ValueError(fmt::format("RBF: units must be positive, got {}", options_.units));
  }
  if (options_.initializer != "kmeans" && options_.initializer != "random") {
    throw ValueError(fmt::format("{}: initializer must be \"kmeans\" or \"random\", got \"{}\"",
                                 who(), options_.initializer));
  }
  if (options_.kmeans_iterations < 1) {
    throw ValueError(fmt::format("{}: kmeans_iterations must be >= 1, got {}", who(),
                                 options_.kmeans_iterations));
  }
}

std::unique_ptr<Layer> RBF::from_config(const nlohmann::json& config) {
  detail::SpecReader args("RBF", config);
  RBFOptions o;
  args.require("units");
  o.units = args.get_int("units", 0);
  o.initializer = args.get_string("initializer", o.initializer);
  o.kmeans_iterations = static_cast<int>(args.get_int("kmeans_iterations", o.kmeans_iterations));
  args.finish();
  return std::make_unique<RBF>(std::move(o));
}

std::string RBF::who() const { return fmt::format("RBF(units={})", options_.units); }

Shape RBF::build(const Shape& input, Rng& rng) {
  if (input.size() != 1 || input[0] <= 0) {
    throw ShapeError(fmt::format("{}: expected input [N, features], got per-sample shape {}", who(),
                                 shape_to_string(input)));
  }
  in_features_ = input[0];
  centers_.value = Tensor({options_.units, in_features_});
  for (float& v : centers_.value) v = rng.uniform(-1.0f, 1.0f);
  centers_.grad = Tensor({options_.units, in_features_});
  log_betas_.value = Tensor({options_.units});  // β = 1
  log_betas_.grad = Tensor({options_.units});
  built_centers_ = centers_.value;
  adapted_ = false;
  clear_cache();
  input_shape_ = input;
  output_shape_ = {options_.units};
  return output_shape_;
}

bool RBF::wants_adapt() const {
  if (options_.initializer != "kmeans" || adapted_ || in_features_ == 0) return false;
  return std::equal(centers_.value.begin(), centers_.value.end(), built_centers_.begin(),
                    built_centers_.end());
}

void RBF::adapt(const Tensor& inputs, Rng& rng) {
  detail::check_built(who(), in_features_ > 0);
  detail::check_batch_shape(who(), input_shape_, inputs);
  if (inputs.dim(0) < options_.units) {
    throw ValueError(
        fmt::format("{}: k-means initialisation needs at least {} training samples, "
                    "got {} (use fewer units or \"initializer\": \"random\")",
                    who(), options_.units, inputs.dim(0)));
  }
  KMeansResult km =
      kmeans(inputs, options_.units, rng, {.max_iterations = options_.kmeans_iterations});
  centers_.value = km.centers;
  double sum = 0;
  int64_t spread = 0;
  for (double s : km.mean_distances) {
    if (s > 0) {
      sum += s;
      ++spread;
    }
  }
  const double fallback = spread > 0 ? sum / static_cast<double>(spread) : 0.0;
  for (int64_t j = 0; j < options_.units; ++j) {
    double sigma = km.mean_distances[static_cast<std::size_t>(j)];
    if (sigma <= 0) sigma = fallback;
    // log β = log(1 / (2σ²)); β = 1 when no cluster has any spread.
    log_betas_.value[j] = sigma > 0 ? static_cast<float>(-std::log(2.0 * sigma * sigma)) : 0.0f;
  }
  adapted_ = true;
}

Tensor RBF::forward(const Tensor& x, Mode mode) {
  detail::check_built(who(), in_features_ > 0);
  detail::check_batch_shape(who(), input_shape_, x);
  const int64_t n = x.dim(0), units = options_.units;
  Tensor d2 = Tensor::uninitialized({n, units});
  squared_distances(x.data(), n, centers_.value.data(), units, in_features_, d2.data());
  Tensor phi = Tensor::uninitialized({n, units});
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < units; ++j) {
      phi[r * units + j] = std::exp(-std::exp(log_betas_.value[j]) * d2[r * units + j]);
    }
  }
  clear_cache();
  if (mode == Mode::Train) {
    x_ = x;
    d2_ = std::move(d2);
    phi_ = phi;
  }
  return phi;
}

Tensor RBF::backward(const Tensor& dy) {
  detail::check_forward_cache(who(), !x_.empty());
  const int64_t n = x_.dim(0), units = options_.units, in = in_features_;
  detail::check_gradient_shape(who(), {n, units}, dy);
  // With D = ‖x − c‖² and φ = exp(−βD): ∂L/∂D = g = −β·dy·φ and ∂L/∂log β = Σ_n g·D.
  // From D = ‖x‖² − 2x·c + ‖c‖²: dx_n = 2(x_n Σ_j g_nj − Σ_j g_nj c_j) = 2(x_n·rowsum(g) − g·C)
  // and dc_j = 2(c_j Σ_n g_nj − Σ_n g_nj x_n) = 2(c_j·colsum(g) − gᵀ·X), each one GEMM.
  Tensor g = Tensor::uninitialized({n, units});
  std::vector<double> colsum(static_cast<std::size_t>(units), 0.0);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t j = 0; j < units; ++j) {
      const int64_t i = r * units + j;
      g[i] = -std::exp(log_betas_.value[j]) * dy[i] * phi_[i];
      colsum[static_cast<std::size_t>(j)] += g[i];
      log_betas_.grad[j] += g[i] * d2_[i];
    }
  }
  // centers.grad += 2·c_j·colsum_j − 2·gᵀ·X.
  gemm(Trans::Yes, Trans::No, units, in, n, -2.0f, g.data(), units, x_.data(), in, 1.0f,
       centers_.grad.data(), in);
  for (int64_t j = 0; j < units; ++j) {
    const float s = 2.0f * static_cast<float>(colsum[static_cast<std::size_t>(j)]);
    for (int64_t i = 0; i < in; ++i) centers_.grad[j * in + i] += s * centers_.value[j * in + i];
  }
  if (!input_gradient_needed_) return Tensor();
  Tensor dx = Tensor::uninitialized({n, in});
  gemm(Trans::No, Trans::No, n, in, units, -2.0f, g.data(), units, centers_.value.data(), in, 0.0f,
       dx.data(), in);
  for (int64_t r = 0; r < n; ++r) {
    float s = 0;
    for (int64_t j = 0; j < units; ++j) s += g[r * units + j];
    for (int64_t i = 0; i < in; ++i) dx[r * in + i] += 2.0f * s * x_[r * in + i];
  }
  return dx;
}

void RBF::clear_cache() {
  x_ = Tensor();
  d2_ = Tensor();
  phi_ = Tensor();
}

std::vector<Param*> RBF::params() { return {&centers_, &log_betas_}; }

nlohmann::json RBF::config() const {
  return {{"type", "RBF"},
          {"units", options_.units},
          {"initializer", options_.initializer},
          {"kmeans_iterations", options_.kmeans_iterations}};
}

}  // namespace nnkit
