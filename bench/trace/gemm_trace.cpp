// Where a run's GEMM time goes, by shape: an LD_PRELOAD library that stands in for oneDNN's
// dnnl_sgemm (nnkit's one GEMM entry point, kernels/gemm.cpp), times every call on its
// thread and, when the process ends, prints per shape the calls, their summed time, the
// median call and its GFLOP/s. The median leaves out the first step's calls (page faults on
// new buffers, oneDNN generating its kernels), which dominate a sum over a short run.
//
//   LD_PRELOAD=build/bench/libgemm_trace.so build/nnkit bench --model lstm --config stacked
//
// `in region` marks calls made inside an OpenMP parallel region (each thread its own share:
// row_parts.h, gemm_split_columns), where GFLOP/s is one thread's; outside, oneDNN threads the
// call itself. A diagnostic, not part of the library: it is not linked into anything.
#include <dlfcn.h>
#include <dnnl.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace {

using Shape = std::tuple<char, char, dnnl_dim_t, dnnl_dim_t, dnnl_dim_t, bool>;

struct Calls {
  std::vector<double> seconds;
};

std::mutex mutex;
// Never destroyed: calls may come from other static objects' destructors.
std::map<Shape, Calls>& calls() {
  static auto* map = new std::map<Shape, Calls>;
  return *map;
}

void report() {
  std::lock_guard<std::mutex> lock(mutex);
  if (calls().empty()) return;
  double total = 0.0;
  for (const auto& [shape, c] : calls())
    for (double s : c.seconds) total += s;
  std::fprintf(stderr, "dnnl_sgemm: %.3f s in all (summed over threads)\n", total);
  std::fprintf(stderr, "%-2s %6s %6s %6s %-9s %8s %9s %12s %9s\n", "op", "m", "n", "k", "region",
               "calls", "sum s", "median ms", "GFLOP/s");
  for (auto& [shape, c] : calls()) {
    const auto [ta, tb, m, n, k, in_region] = shape;
    std::vector<double> sorted = c.seconds;
    std::sort(sorted.begin(), sorted.end());
    const double median = sorted[sorted.size() / 2], flops = 2.0 * m * n * k;
    double sum = 0.0;
    for (double s : sorted) sum += s;
    std::fprintf(stderr, "%c%c %6ld %6ld %6ld %-9s %8zu %9.3f %12.4f %9.0f\n", ta, tb,
                 static_cast<long>(m), static_cast<long>(n), static_cast<long>(k),
                 in_region ? "in region" : "", sorted.size(), sum, median * 1e3,
                 flops / median / 1e9);
  }
}

}  // namespace

extern "C" dnnl_status_t dnnl_sgemm(char transa, char transb, dnnl_dim_t m, dnnl_dim_t n,
                                    dnnl_dim_t k, float alpha, const float* a, dnnl_dim_t lda,
                                    const float* b, dnnl_dim_t ldb, float beta, float* c,
                                    dnnl_dim_t ldc) {
  using Sgemm = decltype(&dnnl_sgemm);
  static const auto real = reinterpret_cast<Sgemm>(dlsym(RTLD_NEXT, "dnnl_sgemm"));
  const auto start = std::chrono::steady_clock::now();
  const dnnl_status_t status = real(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::lock_guard<std::mutex> lock(mutex);
  calls()[{transa, transb, m, n, k, omp_in_parallel() != 0}].seconds.push_back(seconds);
  return status;
}

// nnkit bench runs each configuration in a child that ends by _exit (no destructors), so the
// report hooks _exit as well as a normal exit.
extern "C" void _exit(int status) {
  report();
  using Exit = void (*)(int);
  static const auto real = reinterpret_cast<Exit>(dlsym(RTLD_NEXT, "_exit"));
  real(status);
  __builtin_unreachable();
}

namespace {
struct ReportAtExit {
  ~ReportAtExit() { report(); }
} report_at_exit;
}  // namespace
