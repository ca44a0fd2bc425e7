// k-means clustering (k-means++ seeding, then Lloyd's iterations), for data-dependent
// initialisation such as the RBF layer's centres. Written here rather than taken from mlpack
// (Debian's k-means library): its Armadillo matrices would be one more dependency for some
// eighty lines, and nnkit's own Rng keeps the seeding reproducible with the model's seed.
#pragma once

#include <cstdint>
#include <vector>

#include "nnkit/random.h"
#include "nnkit/tensor.h"

namespace nnkit {

struct KMeansOptions {
  int max_iterations = 100;  // Lloyd iterations at most; >= 1
  // When not empty, [k, d]: the starting centres, in place of k-means++ seeding (rng unused).
  Tensor initial_centers = Tensor();
};

struct KMeansResult {
  Tensor centers;               // [k, d]
  std::vector<int64_t> labels;  // [N]: each point's nearest centre
  // [k]: mean Euclidean distance of a cluster's points to its centre (0 for an empty cluster
  // or one whose points all sit on the centre).
  std::vector<double> mean_distances;
  int iterations = 0;      // Lloyd iterations run
  bool converged = false;  // true when the assignments stopped changing before the cap
};

// Clusters points [N, d] into k clusters. Seeds with k-means++ (the first centre uniform, each
// next one a point drawn with probability proportional to its squared distance from the
// nearest centre so far), then alternates assignment and mean updates until no assignment
// changes or options.max_iterations. A cluster left empty takes over the point farthest from
// its own centre. Deterministic for a given rng state.
// Throws ValueError when points is not [N, d] with d >= 1, k < 1, N < k, max_iterations < 1,
// or initial_centers is given and not [k, d].
KMeansResult kmeans(const Tensor& points, int64_t k, Rng& rng, const KMeansOptions& options = {});

// out[n, j] = ‖x_n − c_j‖² for x [n, d] and c [k, d] (row-major), computed as
// ‖x‖² − 2x·c + ‖c‖² with one GEMM and clamped at 0 (the expansion can round below zero).
// out holds n·k floats. Throws nothing.
void squared_distances(const float* x, int64_t n, const float* c, int64_t k, int64_t d, float* out);

}  // namespace nnkit
