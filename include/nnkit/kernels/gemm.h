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

// gemm() with C's columns split into one contiguous share per OpenMP thread, each share one
// single-threaded oneDNN call, when the product is large (from 2^26 multiply-adds), the caller
// is not inside a parallel region and there are columns for every thread; gemm() otherwise.
// For the recurrent layers' products over a whole sequence: the weight gradients in their
// transposed form (op(A) = Aᵀ, k = steps · batch) ran 10-17% faster than under oneDNN's own
// split of the threads, the input projections no slower (bench/README.md). Each column of C
// is one call's, computed over the whole of k.
void gemm_split_columns(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                        float* c, int64_t ldc);
void gemm_reference(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc);

}  // namespace nnkit
