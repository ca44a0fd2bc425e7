// The number of threads nnkit's kernels use (OpenMP, shared with oneDNN's GEMM, which Debian
// builds on the same GNU OpenMP runtime). The OpenMP runtime keeps one count per process,
// so this is process-wide by nature; the model and the CLI set it from their options.
#pragma once

namespace nnkit {

// n <= 0 means every core.
void set_num_threads(int n);
int num_threads();

}  // namespace nnkit
