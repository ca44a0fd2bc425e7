#include "nnkit/initializers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "spec_reader.h"

namespace nnkit {

namespace {

const char* const kNames[] = {"classic_uniform", "uniform",    "normal",    "glorot_uniform",
                              "glorot_normal",   "he_uniform", "he_normal", "lecun_uniform",
                              "lecun_normal",    "orthogonal", "zeros",     "ones",
                              "constant"};

// Keras class names (GlorotUniform, HeNormal, RandomUniform) and aliases to nnkit's names.
std::string canonical_name(const std::string& name) {
  std::string out = detail::to_snake_case(name);
  if (out == "random_uniform") return "uniform";
  if (out == "random_normal") return "normal";
  if (out == "zero") return "zeros";
  if (out == "one") return "ones";
  return out;
}

struct Fans {
  double in, out;
};

// Weights are stored [out, in, ...receptive field] (PyTorch's layout).
Fans compute_fans(const Shape& shape) {
  if (shape.empty()) return {1, 1};
  if (shape.size() == 1) return {static_cast<double>(shape[0]), static_cast<double>(shape[0])};
  double receptive = 1;
  for (std::size_t i = 2; i < shape.size(); ++i) receptive *= static_cast<double>(shape[i]);
  return {static_cast<double>(shape[1]) * receptive, static_cast<double>(shape[0]) * receptive};
}

// Keras's variance-scaling normal draws from a normal truncated at two standard deviations,
// whose variance is 0.7737 of the untruncated one: 0.87962566 corrects the stddev for it.
void fill_truncated_normal(Tensor& w, double stddev, Rng& rng) {
  double sd = stddev / 0.87962566103423978;
  for (float& v : w) {
    float z;
    do {
      z = rng.normal();
    } while (std::fabs(z) > 2.0f);
    v = static_cast<float>(z * sd);
  }
}

void fill_uniform(Tensor& w, double limit, Rng& rng) {
  for (float& v : w) v = rng.uniform(static_cast<float>(-limit), static_cast<float>(limit));
}

// A matrix with orthonormal rows or columns: QR of a normal matrix by modified Gram-Schmidt
// in double, signs fixed by R's diagonal so that the result is uniformly distributed.
void fill_orthogonal(Tensor& w, float gain, Rng& rng) {
  int64_t rows = w.rank() > 0 ? w.dim(0) : 1;
  int64_t cols = rows > 0 ? w.size() / rows : 0;
  bool transpose = rows < cols;
  int64_t n = transpose ? cols : rows;  // long side: vectors' length
  int64_t k = transpose ? rows : cols;  // short side: number of orthonormal vectors
  std::vector<double> q(static_cast<std::size_t>(n * k));
  for (auto& v : q) v = rng.normal();
  for (int64_t j = 0; j < k; ++j) {
    double* qj = &q[j * n];
    for (int64_t p = 0; p < j; ++p) {
      const double* qp = &q[p * n];
      double dot = 0;
      for (int64_t i = 0; i < n; ++i) dot += qp[i] * qj[i];
      for (int64_t i = 0; i < n; ++i) qj[i] -= dot * qp[i];
    }
    double norm = 0;
    for (int64_t i = 0; i < n; ++i) norm += qj[i] * qj[i];
    norm = std::sqrt(norm);
    // Dividing by the norm (positive) makes R's diagonal positive: the sign fix is implicit.
    for (int64_t i = 0; i < n; ++i) qj[i] /= norm;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      double v = transpose ? q[r * n + c] : q[c * n + r];
      w[r * cols + c] = static_cast<float>(gain * v);
    }
  }
}

}  // namespace

Initializer parse_initializer(const nlohmann::json& spec) {
  Initializer init;
  nlohmann::json args = nlohmann::json::object();
  if (spec.is_string()) {
    init.name = spec.get<std::string>();
  } else if (spec.is_object() && spec.contains("class_name")) {
    init.name = spec.at("class_name").get<std::string>();
    if (spec.contains("config")) args = spec.at("config");
  } else if (spec.is_object() && (spec.contains("type") || spec.contains("name"))) {
    init.name = spec.contains("type") ? spec.at("type").get<std::string>()
                                      : spec.at("name").get<std::string>();
    args = spec;
  } else {
    throw ValueError(fmt::format("initializer: expected a name or an object with \"type\", got {}",
                                 spec.dump()));
  }
  init.name = canonical_name(init.name);
  if (std::find(std::begin(kNames), std::end(kNames), init.name) == std::end(kNames)) {
    throw ValueError(fmt::format(
        "unknown initializer '{}'; expected one of classic_uniform, uniform, normal, "
        "glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal, "
        "orthogonal, zeros, ones, constant",
        init.name));
  }
  // No finish(): Keras configs carry arguments nnkit has no use for ("seed"); they are ignored.
  detail::SpecReader reader(fmt::format("initializer '{}'", init.name), args);
  init.value = reader.get_float("value", init.value);
  init.minval = reader.get_float("minval", init.minval);
  init.maxval = reader.get_float("maxval", init.maxval);
  init.mean = reader.get_float("mean", init.mean);
  init.stddev = reader.get_float("stddev", init.stddev);
  init.gain = reader.get_float("gain", init.gain);
  return init;
}

nlohmann::json initializer_to_json(const Initializer& init) {
  const std::string& n = init.name;
  if (n == "constant") return {{"type", n}, {"value", init.value}};
  if (n == "uniform") return {{"type", n}, {"minval", init.minval}, {"maxval", init.maxval}};
  if (n == "normal") return {{"type", n}, {"mean", init.mean}, {"stddev", init.stddev}};
  if (n == "orthogonal" && init.gain != 1.0f) return {{"type", n}, {"gain", init.gain}};
  return n;
}

void initialize(Tensor& w, const Initializer& init, Rng& rng) {
  const std::string& n = init.name;
  Fans fans = compute_fans(w.shape());
  if (n == "zeros") {
    w.fill(0.0f);
  } else if (n == "ones") {
    w.fill(1.0f);
  } else if (n == "constant") {
    w.fill(init.value);
  } else if (n == "classic_uniform") {
    fill_uniform(w, 1.0, rng);
  } else if (n == "uniform") {
    for (float& v : w) v = rng.uniform(init.minval, init.maxval);
  } else if (n == "normal") {
    for (float& v : w) v = rng.normal(init.mean, init.stddev);
  } else if (n == "glorot_uniform") {
    fill_uniform(w, std::sqrt(6.0 / (fans.in + fans.out)), rng);
  } else if (n == "glorot_normal") {
    fill_truncated_normal(w, std::sqrt(2.0 / (fans.in + fans.out)), rng);
  } else if (n == "he_uniform") {
    fill_uniform(w, std::sqrt(6.0 / fans.in), rng);
  } else if (n == "he_normal") {
    fill_truncated_normal(w, std::sqrt(2.0 / fans.in), rng);
  } else if (n == "lecun_uniform") {
    fill_uniform(w, std::sqrt(3.0 / fans.in), rng);
  } else if (n == "lecun_normal") {
    fill_truncated_normal(w, std::sqrt(1.0 / fans.in), rng);
  } else if (n == "orthogonal") {
    fill_orthogonal(w, init.gain, rng);
  } else {
    throw ValueError(fmt::format("unknown initializer '{}'", n));
  }
}

}  // namespace nnkit
