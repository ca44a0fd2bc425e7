// What the fuzz targets share: a check that turns a broken promise of the library into a
// crash, which libFuzzer reports with the input that caused it, and the sanitizer options the
// targets run with. Included by exactly one source file of each target.
#pragma once

#include <cstdio>
#include <cstdlib>

// Not assert(): it must hold in every build type. Aborting makes libFuzzer keep the input.
#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

// Built into each target, so that a reproducer run by hand behaves as under scripts/fuzz.
// A model spec may ask for weights of any size, which the loader allocates before comparing
// them with the file's tensors: allocations above 64 MB fail (std::bad_alloc, which the loader
// reports as a FormatError) rather than filling memory. Undefined behaviour stops the run.
extern "C" const char* __asan_default_options() {
  return "allocator_may_return_null=1:max_allocation_size_mb=64";
}
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }
