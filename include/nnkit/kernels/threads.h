// The number of threads nnkit's kernels use (OpenMP, shared with oneDNN's GEMM, which Debian
// builds on the same GNU OpenMP runtime). The OpenMP runtime keeps one count per process,
// so this is process-wide by nature; the model and the CLI set it from their options.
#pragma once

namespace nnkit {

// n <= 0 means every core.
void set_num_threads(int n);
int num_threads();

// Flush denormal floats to zero, in results and inputs, on the calling thread and on every
// thread of the OpenMP pool (the flag is per thread). Values below 1.2e-38 become 0, as
// oneDNN's and most training frameworks' kernels already assume; arithmetic on denormals
// runs some hundred times slower, and late in training Adam's second moments, gradients and
// activations drift into that range (a CNN's epochs slowed from 11 to 18 s). The CLI turns it
// on for the process; Sequential::fit for its duration (FlushDenormalsScope).
void set_flush_denormals(bool on);
// The same on the calling thread alone, with no parallel region. Threads it starts later inherit
// the flag (Linux copies a thread's floating-point control state to the threads it creates), so
// at a program's start, before OpenMP's pool exists, this covers the pool too; and it leaves no
// pool behind, which a process that forks afterwards needs (`nnkit bench`: a forked child's
// OpenMP would wait forever for pool threads that were not copied).
void set_flush_denormals_on_this_thread(bool on);
// Whether the calling thread flushes denormals.
bool flush_denormals();

// Turns flushing on for its lifetime when it was off, and back off at the end.
class FlushDenormalsScope {
 public:
  FlushDenormalsScope() : was_on_(flush_denormals()) {
    if (!was_on_) set_flush_denormals(true);
  }
  ~FlushDenormalsScope() {
    if (!was_on_) set_flush_denormals(false);
  }
  FlushDenormalsScope(const FlushDenormalsScope&) = delete;
  FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

 private:
  bool was_on_;
};

}  // namespace nnkit
