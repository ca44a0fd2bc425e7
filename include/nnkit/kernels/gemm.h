// Matrix multiplication, the kernel most of nnkit's time goes to.
// gemm() calls oneDNN's dnnl_sgemm: its JIT picks AVX-512 kernels by CPU feature, where
// Debian's OpenBLAS misdetects this Xeon and runs SSE3 code 5x slower (DESIGN.md).
// gemm_reference() is the plain triple loop the fast one is tested against.
#pragma once

#include <cstdint>

namespace nnkit {

enum class Trans { No, Yes };

// C[m,n] = alpha · op(A)[m,k] · op(B)[k,n] + beta · C, all row-major. lda, ldb, ldc are the
// row strides of A, B, C as stored (A is [m,k] stored or, with Trans::Yes, [k,m] stored).
// When beta is 0, C is not read (it may hold garbage). Allocates nothing, throws nothing.
void gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc);

void gemm_reference(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc);

}  // namespace nnkit
