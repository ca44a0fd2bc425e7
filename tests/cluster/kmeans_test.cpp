#include "nnkit/cluster/kmeans.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "nnkit/error.h"
#include "test_util.h"

namespace nnkit {
namespace {

using testing::expect_throw_containing;

// Three Gaussian blobs (σ = 0.5 per axis, 60 points each) around far-apart centres.
struct Blobs {
  Tensor points{{180, 2}};
  std::vector<int> truth;  // each point's blob
  const float centers[3][2] = {{0, 0}, {10, 0}, {0, 10}};
};

Blobs make_blobs(uint64_t seed) {
  Blobs b;
  Rng rng(seed);
  for (int r = 0; r < 180; ++r) {
    int blob = r % 3;
    b.truth.push_back(blob);
    b.points[r * 2] = b.centers[blob][0] + rng.normal(0.0f, 0.5f);
    b.points[r * 2 + 1] = b.centers[blob][1] + rng.normal(0.0f, 0.5f);
  }
  return b;
}

TEST(KMeans, RecoversTheCentresOfSeparatedBlobs) {
  for (uint64_t seed : {1, 2, 3}) {
    Blobs b = make_blobs(seed);
    Rng rng(seed + 10);
    KMeansResult km = kmeans(b.points, 3, rng);
    EXPECT_TRUE(km.converged);
    EXPECT_LT(km.iterations, 100);
    // Each found centre is within 0.2 of a different true centre (the blob means are within
    // about 0.5 / √60 ≈ 0.07 of them).
    std::set<int> matched;
    std::vector<int> blob_of(3);
    for (int j = 0; j < 3; ++j) {
      for (int t = 0; t < 3; ++t) {
        double dx = km.centers[j * 2] - b.centers[t][0],
               dy = km.centers[j * 2 + 1] - b.centers[t][1];
        if (std::hypot(dx, dy) < 0.2) {
          matched.insert(t);
          blob_of[j] = t;
        }
      }
    }
    ASSERT_EQ(matched.size(), 3u) << "seed " << seed;
    for (int r = 0; r < 180; ++r) EXPECT_EQ(blob_of[km.labels[r]], b.truth[r]);
    // The mean distance of a 2-D normal point to its centre is σ·√(π/2) ≈ 0.627.
    for (double s : km.mean_distances) EXPECT_NEAR(s, 0.5 * std::sqrt(M_PI / 2), 0.1);
  }
}

TEST(KMeans, HandWorkedOneDimensionalClusters) {
  // {0, 2} and {10, 14}: means 1 and 12, mean distances 1 and 2, whichever points seed.
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng rng(seed);
    KMeansResult km = kmeans(Tensor({4, 1}, {0, 10, 2, 14}), 2, rng);
    ASSERT_TRUE(km.converged);
    int low = km.centers[0] < km.centers[1] ? 0 : 1;
    EXPECT_FLOAT_EQ(km.centers[low], 1.0f);
    EXPECT_FLOAT_EQ(km.centers[1 - low], 12.0f);
    EXPECT_DOUBLE_EQ(km.mean_distances[low], 1.0);
    EXPECT_DOUBLE_EQ(km.mean_distances[1 - low], 2.0);
    EXPECT_EQ(km.labels, (std::vector<int64_t>{low, 1 - low, low, 1 - low}));
  }
}

TEST(KMeans, IdenticalPointsLeaveClustersEmptyWithoutFailing) {
  // Fewer distinct points than clusters: the extra centres sit on points, the empty clusters
  // keep them and report mean distance 0.
  Rng rng(4);
  KMeansResult km = kmeans(Tensor({5, 2}, {1, 2, 1, 2, 1, 2, 1, 2, 1, 2}), 3, rng);
  EXPECT_TRUE(km.converged);
  for (int j = 0; j < 3; ++j) {
    EXPECT_EQ(km.centers[j * 2], 1.0f);
    EXPECT_EQ(km.centers[j * 2 + 1], 2.0f);
    EXPECT_EQ(km.mean_distances[j], 0.0);
  }
  for (int64_t label : km.labels) EXPECT_EQ(label, 0);
}

TEST(KMeans, EmptiedClustersTakeTheFarthestPoints) {
  // Worked by hand: from centres {0, 100, 200} every point of {0, 0.1, 0.2, 50} goes to the
  // first (50 ties between 0 and 100; the lower index wins), leaving two clusters empty. The
  // first takes 50 (farthest from its centre), the second 0.2 (next farthest), and the first
  // cluster keeps {0, 0.1}: centres {0.05, 50, 0.2}, stable on the second assignment.
  Rng rng(8);
  KMeansResult km = kmeans(Tensor({4, 1}, {0.0f, 0.1f, 0.2f, 50.0f}), 3, rng,
                           {.initial_centers = Tensor({3, 1}, {0, 100, 200})});
  EXPECT_TRUE(km.converged);
  EXPECT_EQ(km.iterations, 2);
  EXPECT_FLOAT_EQ(km.centers[0], 0.05f);
  EXPECT_FLOAT_EQ(km.centers[1], 50.0f);
  EXPECT_FLOAT_EQ(km.centers[2], 0.2f);
  EXPECT_EQ(km.labels, (std::vector<int64_t>{0, 0, 2, 1}));
  EXPECT_NEAR(km.mean_distances[0], 0.05, 1e-6);
  EXPECT_EQ(km.mean_distances[1], 0.0);
  EXPECT_EQ(km.mean_distances[2], 0.0);
}

TEST(KMeans, StopsAtTheIterationCap) {
  Blobs b = make_blobs(5);
  Rng rng(6);
  KMeansResult km = kmeans(b.points, 20, rng, {.max_iterations = 1});
  EXPECT_EQ(km.iterations, 1);
  EXPECT_FALSE(km.converged);
  EXPECT_EQ(km.labels.size(), 180u);
}

TEST(KMeans, SquaredDistancesMatchTheDirectSum) {
  const float x[] = {1, 2, 3, -1, 0, 4};  // two points in 3-D
  const float c[] = {0, 0, 0, 1, 2, 3, 2, -1, 1};
  float out[6];
  squared_distances(x, 2, c, 3, 3, out);
  const float want[] = {14, 0, 14, 17, 9, 19};  // e.g. (1, 2, 3) − (2, −1, 1) = (−1, 3, 2): 14
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(out[i], want[i], 1e-5) << i;
}

TEST(KMeans, RejectsBadArguments) {
  Rng rng(7);
  expect_throw_containing<ValueError>([&] { kmeans(Tensor({4}), 2, rng); },
                                      "kmeans: expected points [N, d] with d >= 1, got [4]");
  expect_throw_containing<ValueError>(
      [&] {
        kmeans(Tensor({4, 1}), 0, rng);
      },
      "kmeans: k must be >= 1, got 0");
  expect_throw_containing<ValueError>(
      [&] {
        kmeans(Tensor({2, 1}), 3, rng);
      },
      "kmeans: 2 points cannot make 3 clusters (need N >= k)");
  expect_throw_containing<ValueError>(
      [&] {
        kmeans(Tensor({4, 1}), 2, rng, {.max_iterations = 0});
      },
      "kmeans: max_iterations must be >= 1, got 0");
  expect_throw_containing<ValueError>(
      [&] {
        kmeans(Tensor({4, 1}), 2, rng, {.initial_centers = Tensor({3, 1})});
      },
      "kmeans: initial_centers must be [2, 1], got [3, 1]");
}

}  // namespace
}  // namespace nnkit
