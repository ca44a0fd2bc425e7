#include "nnkit/kernels/gemm.h"

#include <omp.h>

#include "oneapi/dnnl/dnnl.h"

namespace nnkit {

namespace {
// Below about a million multiply-adds (~10 µs on one core) a second thread costs more than it
// saves: waking it and meeting it at oneDNN's barrier. On a loaded machine a descheduled
// thread turns that barrier into a scheduler quantum: 48×16×480 took 43 µs on two threads
// against 8 µs on one, and milliseconds when the cores were oversubscribed.
constexpr int64_t kSingleThreadMacs = int64_t{1} << 20;
}  // namespace

void gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    // dnnl_sgemm rejects k = 0; the product is empty, so C = beta · C.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    return;
  }
  // oneDNN's dnnl_sgemm is row-major, like nnkit. Its status can only report bad arguments,
  // which the callers' shape checks exclude. It takes its thread count from OpenMP's
  // per-thread setting, which a small product lowers to one for the call.
  const char ta = trans_a == Trans::Yes ? 'T' : 'N', tb = trans_b == Trans::Yes ? 'T' : 'N';
  const int threads = omp_get_max_threads();
  if (threads > 1 && m * n * k < kSingleThreadMacs) {
    omp_set_num_threads(1);
    dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    omp_set_num_threads(threads);
    return;
  }
  dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_split_columns(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                        float* c, int64_t ldc) {
  // Shares are whole multiples of 16 columns (one AVX-512 vector), at least 64 each.
  constexpr int64_t kSplitFromMacs = int64_t{1} << 26, kColumnAlign = 16, kMinShare = 64;
  const int threads = omp_get_max_threads();
  if (threads < 2 || omp_in_parallel() || m * n * k < kSplitFromMacs || n < kMinShare * threads) {
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  // Inside the region oneDNN runs each call on its calling thread alone (as in row_parts.h).
#pragma omp parallel num_threads(threads)
  {
    // The team may be smaller than asked for: share by its actual size.
    const int64_t team = omp_get_num_threads(), part = omp_get_thread_num();
    const int64_t j0 = n * part / team / kColumnAlign * kColumnAlign;
    const int64_t j1 = part + 1 == team ? n : n * (part + 1) / team / kColumnAlign * kColumnAlign;
    // op(B)'s columns j0.. are B's columns (stored [k, n]) or its rows (stored [n, k]).
    const float* b_share = trans_b == Trans::Yes ? b + j0 * ldb : b + j0;
    gemm(trans_a, trans_b, m, j1 - j0, k, alpha, a, lda, b_share, ldb, beta, c + j0, ldc);
  }
}

void gemm_reference(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        float av = trans_a == Trans::Yes ? a[p * lda + i] : a[i * lda + p];
        float bv = trans_b == Trans::Yes ? b[j * ldb + p] : b[p * ldb + j];
        sum += static_cast<double>(av) * bv;
      }
      float prior = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
      c[i * ldc + j] = static_cast<float>(alpha * sum) + prior;
    }
  }
}

}  // namespace nnkit
