#include "nnkit/cluster/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/kernels/gemm.h"

namespace nnkit {

void squared_distances(const float* x, int64_t n, const float* c, int64_t k, int64_t d,
                       float* out) {
  // out = −2·x·cᵀ, then add the squared norms row- and column-wise.
  gemm(Trans::No, Trans::Yes, n, k, d, -2.0f, x, d, c, d, 0.0f, out, k);
  std::vector<float> cc(static_cast<std::size_t>(k));
  for (int64_t j = 0; j < k; ++j) {
    float s = 0;
    for (int64_t i = 0; i < d; ++i) s += c[j * d + i] * c[j * d + i];
    cc[static_cast<std::size_t>(j)] = s;
  }
  for (int64_t r = 0; r < n; ++r) {
    float xx = 0;
    for (int64_t i = 0; i < d; ++i) xx += x[r * d + i] * x[r * d + i];
    float* row = out + r * k;
    for (int64_t j = 0; j < k; ++j) row[j] = std::max(0.0f, row[j] + xx + cc[j]);
  }
}

namespace {

// Each point's nearest centre (the lowest index on ties) and its squared distance; returns
// whether any label changed.
bool assign(const Tensor& points, const Tensor& centers, std::vector<int64_t>& labels,
            std::vector<float>& nearest) {
  const int64_t n = points.dim(0), d = points.dim(1), k = centers.dim(0);
  std::vector<float> dist(static_cast<std::size_t>(n * k));
  squared_distances(points.data(), n, centers.data(), k, d, dist.data());
  bool changed = false;
  for (int64_t r = 0; r < n; ++r) {
    const float* row = dist.data() + r * k;
    int64_t best = std::min_element(row, row + k) - row;
    if (labels[static_cast<std::size_t>(r)] != best) changed = true;
    labels[static_cast<std::size_t>(r)] = best;
    nearest[static_cast<std::size_t>(r)] = row[best];
  }
  return changed;
}

// Centres as the means of their points; an empty cluster takes the point farthest from its
// centre (which leaves its old cluster, not emptied: that point was not alone unless every
// distance is 0, and then nothing moves).
void update(const Tensor& points, Tensor& centers, std::vector<int64_t>& labels,
            std::vector<float>& nearest) {
  const int64_t n = points.dim(0), d = points.dim(1), k = centers.dim(0);
  std::vector<double> sums(static_cast<std::size_t>(k * d), 0.0);
  std::vector<int64_t> counts(static_cast<std::size_t>(k), 0);
  for (int64_t r = 0; r < n; ++r) {
    int64_t j = labels[static_cast<std::size_t>(r)];
    ++counts[static_cast<std::size_t>(j)];
    for (int64_t i = 0; i < d; ++i) sums[static_cast<std::size_t>(j * d + i)] += points[r * d + i];
  }
  for (int64_t j = 0; j < k; ++j) {
    if (counts[static_cast<std::size_t>(j)] > 0) continue;
    int64_t far = std::max_element(nearest.begin(), nearest.end()) - nearest.begin();
    if (nearest[static_cast<std::size_t>(far)] <= 0.0f) continue;
    int64_t old = labels[static_cast<std::size_t>(far)];
    --counts[static_cast<std::size_t>(old)];
    ++counts[static_cast<std::size_t>(j)];
    for (int64_t i = 0; i < d; ++i) {
      sums[static_cast<std::size_t>(old * d + i)] -= points[far * d + i];
      sums[static_cast<std::size_t>(j * d + i)] = points[far * d + i];
    }
    labels[static_cast<std::size_t>(far)] = j;
    nearest[static_cast<std::size_t>(far)] = 0.0f;
  }
  for (int64_t j = 0; j < k; ++j) {
    int64_t count = counts[static_cast<std::size_t>(j)];
    if (count == 0) continue;  // only when all points sit on centres: keep it where it is
    for (int64_t i = 0; i < d; ++i) {
      centers[j * d + i] = static_cast<float>(sums[static_cast<std::size_t>(j * d + i)] /
                                              static_cast<double>(count));
    }
  }
}

}  // namespace

KMeansResult kmeans(const Tensor& points, int64_t k, Rng& rng, const KMeansOptions& options) {
  if (points.rank() != 2 || points.dim(1) < 1) {
    throw ValueError(fmt::format("kmeans: expected points [N, d] with d >= 1, got {}",
                                 shape_to_string(points.shape())));
  }
  const int64_t n = points.dim(0), d = points.dim(1);
  if (k < 1) throw ValueError(fmt::format("kmeans: k must be >= 1, got {}", k));
  if (n < k) {
    throw ValueError(fmt::format("kmeans: {} points cannot make {} clusters (need N >= k)", n, k));
  }
  if (options.max_iterations < 1) {
    throw ValueError(
        fmt::format("kmeans: max_iterations must be >= 1, got {}", options.max_iterations));
  }

  const Tensor& given = options.initial_centers;
  if (!given.empty() && given.shape() != Shape{k, d}) {
    throw ValueError(fmt::format("kmeans: initial_centers must be [{}, {}], got {}", k, d,
                                 shape_to_string(given.shape())));
  }

  // k-means++ seeding: nearest[r] is point r's squared distance to the closest centre so far.
  KMeansResult result;
  result.centers = given.empty() ? Tensor({k, d}) : given;
  std::vector<float> nearest(static_cast<std::size_t>(n), std::numeric_limits<float>::max());
  std::vector<float> dist(static_cast<std::size_t>(n));
  int64_t pick = given.empty() ? static_cast<int64_t>(rng.below(static_cast<uint64_t>(n))) : 0;
  for (int64_t j = 0; j < k && given.empty(); ++j) {
    std::copy_n(points.data() + pick * d, d, result.centers.data() + j * d);
    if (j + 1 == k) break;
    squared_distances(points.data(), n, result.centers.data() + j * d, 1, d, dist.data());
    double total = 0;
    for (int64_t r = 0; r < n; ++r) {
      nearest[static_cast<std::size_t>(r)] =
          std::min(nearest[static_cast<std::size_t>(r)], dist[static_cast<std::size_t>(r)]);
      total += nearest[static_cast<std::size_t>(r)];
    }
    if (total <= 0) {  // every point sits on a centre: any point will do
      pick = static_cast<int64_t>(rng.below(static_cast<uint64_t>(n)));
      continue;
    }
    double target = static_cast<double>(rng.uniform()) * total, run = 0;
    pick = -1;
    for (int64_t r = 0; r < n; ++r) {
      if (nearest[static_cast<std::size_t>(r)] <= 0) continue;
      pick = r;  // the last point with weight, should rounding carry run short of target
      run += nearest[static_cast<std::size_t>(r)];
      if (run > target) break;
    }
  }

  // Lloyd's iterations.
  result.labels.assign(static_cast<std::size_t>(n), -1);
  for (int it = 0; it < options.max_iterations; ++it) {
    bool changed = assign(points, result.centers, result.labels, nearest);
    result.iterations = it + 1;
    if (!changed) {
      result.converged = true;
      break;
    }
    update(points, result.centers, result.labels, nearest);
  }
  if (!result.converged) assign(points, result.centers, result.labels, nearest);

  result.mean_distances.assign(static_cast<std::size_t>(k), 0.0);
  std::vector<int64_t> counts(static_cast<std::size_t>(k), 0);
  // Directly, not from the GEMM expansion, whose rounding would put a point lying on its
  // centre some 1e-4 away after the square root.
  for (int64_t r = 0; r < n; ++r) {
    const int64_t j = result.labels[static_cast<std::size_t>(r)];
    double sq = 0;
    for (int64_t i = 0; i < d; ++i) {
      double diff = static_cast<double>(points[r * d + i]) - result.centers[j * d + i];
      sq += diff * diff;
    }
    result.mean_distances[static_cast<std::size_t>(j)] += std::sqrt(sq);
    ++counts[static_cast<std::size_t>(j)];
  }
  for (std::size_t j = 0; j < counts.size(); ++j) {
    if (counts[j] > 0) result.mean_distances[j] /= static_cast<double>(counts[j]);
  }
  return result;
}

}  // namespace nnkit
