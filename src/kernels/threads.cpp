#include "nnkit/kernels/threads.h"

#include <omp.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace nnkit {

namespace {
// MXCSR bits: 0x8000 flush-to-zero (results), 0x0040 denormals-are-zero (inputs).
constexpr unsigned kBits = 0x8040;
}  // namespace

void set_num_threads(int n) { omp_set_num_threads(n > 0 ? n : omp_get_num_procs()); }

int num_threads() { return omp_get_max_threads(); }

void set_flush_denormals_on_this_thread(bool on) {
#if defined(__SSE__)
  _mm_setcsr(on ? (_mm_getcsr() | kBits) : (_mm_getcsr() & ~kBits));
#else
  (void)on;
#endif
}

void set_flush_denormals(bool on) {
  set_flush_denormals_on_this_thread(on);
#pragma omp parallel
  set_flush_denormals_on_this_thread(on);
}

bool flush_denormals() {
#if defined(__SSE__)
  return (_mm_getcsr() & kBits) == kBits;
#else
  return false;
#endif
}

}  // namespace nnkit
