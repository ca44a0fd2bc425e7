// Running a recurrent layer's time loop on each thread's own rows of the batch.
//
// The samples of a batch never meet in a recurrence: row n of step s depends on row n of step
// s − 1 only. So rather than splitting every step's GEMM and gate pass over the threads (two
// fork-joins per step forward and two backward, each a barrier that waits for the slowest
// thread), each thread runs the whole time loop on its share of the rows, with its own
// single-threaded GEMMs (oneDNN runs sequentially inside a parallel region), and the threads
// meet once, at the end. The shared weights are only read.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "nnkit/kernels/threads.h"

namespace nnkit::detail {

// How many shares a batch's time loop splits into: one per thread when a step's recurrent
// product (step_macs multiply-adds) is at least min_step_macs, the caller is not inside a
// parallel region already (Bidirectional runs each direction on a thread of its own), and the
// batch has a row for every thread; else 1.
inline int row_parts(int64_t batch, int64_t step_macs, int64_t min_step_macs) {
  if (step_macs < min_step_macs || omp_in_parallel()) return 1;
  return static_cast<int>(std::clamp<int64_t>(batch, 1, num_threads()));
}

// body(n0, n1) for rows [n0, n1) of each of `parts` contiguous shares of the batch, one thread
// each in one parallel region; with parts == 1, body(0, batch) on the caller, no region. body
// must not throw (an exception cannot leave a parallel region).
template <typename Body>
void for_each_row_part(int64_t batch, int parts, const Body& body) {
  if (parts <= 1) {
    body(int64_t{0}, batch);
    return;
  }
#pragma omp parallel num_threads(parts)
  {
    // The team may be smaller than asked for: share by its actual size.
    const int64_t team = omp_get_num_threads(), part = omp_get_thread_num();
    body(batch * part / team, batch * (part + 1) / team);
  }
}

}  // namespace nnkit::detail
