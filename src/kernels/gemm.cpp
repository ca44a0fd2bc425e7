#include "nnkit/kernels/gemm.h"

#include "oneapi/dnnl/dnnl.h"

namespace nnkit {

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
  // which the callers' shape checks exclude.
  dnnl_sgemm(trans_a == Trans::Yes ? 'T' : 'N', trans_b == Trans::Yes ? 'T' : 'N', m, n, k, alpha,
             a, lda, b, ldb, beta, c, ldc);
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
