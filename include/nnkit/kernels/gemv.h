// Matrix-vector products for batch-1 recurrences: y[m] = A[m,k]·x[k] and y[k] = Aᵀ·x[m].
// At batch 1 an LSTM(128) step multiplies a [512, 128] matrix by a vector: 65k multiply-adds,
// about 1 µs of arithmetic on one core, less than a library call costs: oneDNN's sgemm takes
// 3.7 µs, these kernels 2.5 (bench/README.md). The product is bound by reading A (256 KiB)
// from L2, so they stream A once, on one thread, with no call or threading overhead.
//
// Two forms of A:
// - as stored, row-major with a row stride (PyTorch's weight layout): gemv(), gemv_transposed();
// - packed once into column-major panels (PackedMatrix): gemv_packed(),
//   gemv_transposed_packed(), both directions on the same copy.
// At [512, 128], one core: gemv_packed 2.5 µs against gemv 3.3 (no horizontal sums);
// gemv_transposed 2.4 against gemv_transposed_packed 2.7. So a layer packs W_hh for its
// forward steps and runs backward on W_hh as stored, or on the copy when it has one.
// The *_reference versions are plain double-precision loops the fast ones are tested against.
// Every product overwrites y, or adds into it when accumulate is true (y is not read
// otherwise). None allocates, throws, or starts threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace nnkit {

// True when these kernels were built with AVX-512 (-march=native on this Xeon, the default).
// Built without it (NNKIT_NATIVE=OFF) they are plain loops, 10.5 µs at [512, 128] against
// oneDNN's 3.7 µs, and a layer should keep calling gemm() instead.
bool gemv_is_vectorized();

// y[m] = A[m,k]·x[k] (+ y). A row-major with row stride lda >= k.
void gemv(int64_t m, int64_t k, const float* a, int64_t lda, const float* x, float* y,
          bool accumulate);
// y[k] = A[m,k]ᵀ·x[m] (+ y). A row-major with row stride lda >= k.
void gemv_transposed(int64_t m, int64_t k, const float* a, int64_t lda, const float* x, float* y,
                     bool accumulate);

void gemv_reference(int64_t m, int64_t k, const float* a, int64_t lda, const float* x, float* y,
                    bool accumulate);
void gemv_transposed_reference(int64_t m, int64_t k, const float* a, int64_t lda, const float* x,
                               float* y, bool accumulate);

// A copy of A[m,k] laid out for matrix-vector products: the rows are cut into panels of
// kPackedPanelRows (the last panel rounded up to a multiple of 16 rows and zero-padded), and
// each panel is stored column by column. A·x is then a run of broadcast-FMAs over contiguous
// panel columns (no horizontal sums), and Aᵀ·x a run of dot products over the same memory.
// The storage is 64-byte aligned; packing again a matrix no larger reuses it.
inline constexpr int64_t kPackedPanelRows = 128;

namespace detail {
// Cache-line alignment keeps every 64-byte load within one line; a copyable PackedMatrix keeps
// the layers that hold one copyable.
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, std::size_t) { ::operator delete (p, std::align_val_t{64}); }
  friend bool operator==(const CacheLineAllocator&, const CacheLineAllocator&) { return true; }
};
}  // namespace detail

struct PackedMatrix {
  int64_t rows = 0, cols = 0;
  // Panel p holds rows [p·kPackedPanelRows, ...) with width w = its row count rounded up to
  // 16: element (i, j) sits at data[p·kPackedPanelRows·cols + j·w + i − p·kPackedPanelRows].
  std::vector<float, detail::CacheLineAllocator<float>> data;
};

// Packs A[rows, cols] (row stride lda >= cols) into `packed`. Allocates only when `packed` is
// smaller than needed (and may then throw std::bad_alloc). [512, 128] takes 13.5 µs, about
// five packed products. A layer packs its weights again whenever they may have changed (at
// the start of each forward(): nnkit has no weight version counter), never inside its time
// loop; the packed copy stays valid for that forward's backward.
void pack_rows(const float* a, int64_t rows, int64_t cols, int64_t lda, PackedMatrix& packed);

// Called by a packed product after each panel, with the panel's first row and row count, once
// those rows of y are final: the caller can consume them (an LSTM step runs its gates there)
// while the next panel streams in from L2, instead of in a pass after the whole product.
// A plain function and a context pointer: nothing allocated per call.
struct PanelDone {
  void (*call)(void* context, int64_t row0, int64_t rows) = nullptr;
  void* context = nullptr;

  // A PanelDone that calls f(row0, rows); f must outlive the product.
  template <typename F>
  static PanelDone of(F& f) {
    return {[](void* c, int64_t row0, int64_t rows) { (*static_cast<F*>(c))(row0, rows); }, &f};
  }
};

// y[rows] = A·x[cols] (+ y), A as packed by pack_rows(); panel_done (if set) after each panel.
void gemv_packed(const PackedMatrix& a, const float* x, float* y, bool accumulate,
                 PanelDone panel_done = {});
// y[cols] = Aᵀ·x[rows] (+ y), A as packed by pack_rows(): the backward of gemv_packed().
void gemv_transposed_packed(const PackedMatrix& a, const float* x, float* y, bool accumulate);

// A packed matrix in IEEE half precision (binary16: 11-bit significand, largest 65504), the
// same layout as PackedMatrix. A product over it reads half the bytes, and the bytes are what
// a batch-1 step waits for; each weight is rounded by up to 2⁻¹¹ of itself, x and the sums
// stay float. For inference only, when asked for (LSTM::set_step_precision).
struct HalfPackedMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<uint16_t, detail::CacheLineAllocator<uint16_t>> data;
};
// Round to nearest, ties to even; beyond ±65504 to infinity. Scalar, for tests and the builds
// without AVX-512, where the product converts with these.
uint16_t float_to_half(float value);
float half_to_float(uint16_t half);
// `half` = `packed` rounded to half precision; allocates only when `half` is smaller.
void to_half(const PackedMatrix& packed, HalfPackedMatrix& half);
// y[rows] = A·x[cols] (+ y) over the half-precision copy, accumulated in float; panel_done as
// gemv_packed's.
void gemv_packed_half(const HalfPackedMatrix& a, const float* x, float* y, bool accumulate,
                      PanelDone panel_done = {});

}  // namespace nnkit
