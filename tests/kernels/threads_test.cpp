#include "nnkit/kernels/threads.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <vector>

namespace nnkit {
namespace {

// A denormal times one, computed where the compiler cannot fold it.
float denormal_product() {
  volatile float tiny = 1e-39f;  // below FLT_MIN (1.18e-38): a denormal
  volatile float one = 1.0f;
  return tiny * one;
}

TEST(FlushDenormals, ReachesTheCallingThreadAndEveryPoolThread) {
  set_num_threads(2);
  set_flush_denormals(false);
  EXPECT_NE(denormal_product(), 0.0f);

  set_flush_denormals(true);
  std::vector<float> seen(static_cast<std::size_t>(omp_get_max_threads()), 1.0f);
#pragma omp parallel
  seen[static_cast<std::size_t>(omp_get_thread_num())] = denormal_product();
  for (float v : seen) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(denormal_product(), 0.0f);

  set_flush_denormals(false);
  EXPECT_NE(denormal_product(), 0.0f);
  set_num_threads(0);
}

TEST(FlushDenormals, TheScopeRestoresWhatItFound) {
  set_flush_denormals(false);
  {
    FlushDenormalsScope scope;
    EXPECT_TRUE(flush_denormals());
    EXPECT_EQ(denormal_product(), 0.0f);
  }
  EXPECT_FALSE(flush_denormals());
  set_flush_denormals(true);
  { FlushDenormalsScope scope; }
  EXPECT_TRUE(flush_denormals());
  set_flush_denormals(false);
}

}  // namespace
}  // namespace nnkit
