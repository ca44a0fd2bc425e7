// Matrix-vector products at batch 1: nnkit's gemv kernels (on the matrix as stored and on a
// packed copy) against nnkit::gemm with one row (oneDNN) and the reference loop, for the
// recurrent matrices of LSTM(128) [512, 128], GRU(128) [384, 128], LSTM(256) [1024, 256] and
// LSTM(512) [2048, 512]; packing; a 2-thread split; and a whole LSTM(128) step at batch 1
// (input projection, recurrent product, gates). Run with OMP_NUM_THREADS=1 (the layers run
// batch 1 on one thread). GB/s counts the matrix bytes read per call.
#include <benchmark/benchmark.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "nnkit/kernels/activations.h"
#include "nnkit/kernels/gemm.h"
#include "nnkit/kernels/gemv.h"
#include "nnkit/random.h"

namespace {

std::vector<float> random_vector(int64_t n, uint64_t seed) {
  nnkit::Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(-1, 1);
  return v;
}

void set_counters(benchmark::State& state, int64_t m, int64_t k) {
  const double n = static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * m * k * n, benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.counters["GB/s"] =
      benchmark::Counter(4.0 * m * k * n, benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// The kernels compared, for y[m] = W[m,k]·x (forward) and y[k] = Wᵀ·x (backward).
enum Kernel { kGemm, kReference, kAsStored, kPacked };

void run(benchmark::State& state, Kernel kernel, bool transposed) {
  const int64_t m = state.range(0), k = state.range(1);
  std::vector<float> w = random_vector(m * k, 1), x = random_vector(std::max(m, k), 2),
                     y(std::max(m, k));
  nnkit::PackedMatrix packed;
  nnkit::pack_rows(w.data(), m, k, k, packed);
  for (auto _ : state) {
    switch (kernel) {
      case kGemm:
        // As the layers call it: y[1, m] = x[1, k]·Wᵀ, and dh[1, k] = dG[1, m]·W.
        if (transposed)
          nnkit::gemm(nnkit::Trans::No, nnkit::Trans::No, 1, k, m, 1.0f, x.data(), m, w.data(), k,
                      1.0f, y.data(), k);
        else
          nnkit::gemm(nnkit::Trans::No, nnkit::Trans::Yes, 1, m, k, 1.0f, x.data(), k, w.data(), k,
                      1.0f, y.data(), m);
        break;
      case kReference:
        if (transposed)
          nnkit::gemv_transposed_reference(m, k, w.data(), k, x.data(), y.data(), true);
        else
          nnkit::gemv_reference(m, k, w.data(), k, x.data(), y.data(), true);
        break;
      case kAsStored:
        if (transposed)
          nnkit::gemv_transposed(m, k, w.data(), k, x.data(), y.data(), true);
        else
          nnkit::gemv(m, k, w.data(), k, x.data(), y.data(), true);
        break;
      case kPacked:
        if (transposed)
          nnkit::gemv_transposed_packed(packed, x.data(), y.data(), true);
        else
          nnkit::gemv_packed(packed, x.data(), y.data(), true);
        break;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, m, k);
}

void BM_GemmM1(benchmark::State& state) { run(state, kGemm, false); }
void BM_GemvReference(benchmark::State& state) { run(state, kReference, false); }
void BM_Gemv(benchmark::State& state) { run(state, kAsStored, false); }
void BM_GemvPacked(benchmark::State& state) { run(state, kPacked, false); }
void BM_GemmM1Transposed(benchmark::State& state) { run(state, kGemm, true); }
void BM_GemvTransposedReference(benchmark::State& state) { run(state, kReference, true); }
void BM_GemvTransposed(benchmark::State& state) { run(state, kAsStored, true); }
void BM_GemvTransposedPacked(benchmark::State& state) { run(state, kPacked, true); }

// pack_rows(): what a layer pays each time its weights may have changed.
void BM_Pack(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1);
  std::vector<float> w = random_vector(m * k, 1);
  nnkit::PackedMatrix packed;
  for (auto _ : state) {
    nnkit::pack_rows(w.data(), m, k, k, packed);
    benchmark::DoNotOptimize(packed.data.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, m, k);
}

// The rows split over 2 OpenMP threads, each with half the matrix packed in its own L2:
// what an OpenMP fork and join per product costs against what the halved reads save.
void BM_GemvPackedTwoThreads(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), half = m / 2;
  std::vector<float> w = random_vector(m * k, 1), x = random_vector(k, 2), y(m);
  nnkit::PackedMatrix parts[2];
  // Packed by the thread that uses it, so that its pages start in that core's caches.
#pragma omp parallel num_threads(2)
  {
    const int t = omp_get_thread_num();
    nnkit::pack_rows(w.data() + t * half * k, t == 0 ? half : m - half, k, k, parts[t]);
  }
  for (auto _ : state) {
#pragma omp parallel num_threads(2)
    {
      const int t = omp_get_thread_num();
      nnkit::gemv_packed(parts[t], x.data(), y.data() + t * half, true);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, m, k);
}

#ifdef __AVX512F__
// (The maskz_ forms of the conversions: GCC 12 warns on the plain ones, GCC bug 105593.)
// Experiments, not library code: two ways under the L2 bandwidth of one core that the library
// does not take (bench/README.md says why).
//
// Half the bytes: the packed panels in IEEE half precision (11-bit significand), widened to
// float in registers, fp32 accumulation. Changes the model's numbers, by about 2⁻¹² relative
// per weight.
struct HalfPacked {
  int64_t rows = 0, cols = 0;
  std::vector<uint16_t> data;
};

void pack_half(const nnkit::PackedMatrix& packed, HalfPacked& half) {
  half.rows = packed.rows;
  half.cols = packed.cols;
  half.data.resize(packed.data.size());
  for (size_t i = 0; i < packed.data.size(); i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(half.data.data() + i),
                        _mm512_maskz_cvtps_ph(0xFFFF, _mm512_loadu_ps(packed.data.data() + i),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// y += A·x for rows a multiple of 128 and an even number of columns; two accumulator sets,
// as gemv_packed.
void gemv_half(const HalfPacked& a, const float* x, float* y) {
  for (int64_t i0 = 0; i0 < a.rows; i0 += 128) {
    const uint16_t* panel = a.data.data() + i0 * a.cols;
    __m512 acc[2][8];
    for (auto& set : acc)
      for (auto& v : set) v = _mm512_setzero_ps();
    for (int64_t j = 0; j < a.cols; j += 2)
      for (int s = 0; s < 2; ++s) {
        const __m512 xb = _mm512_set1_ps(x[j + s]);
        const uint16_t* column = panel + (j + s) * 128;
        for (int v = 0; v < 8; ++v)
          acc[s][v] = _mm512_fmadd_ps(
              _mm512_maskz_cvtph_ps(
                  0xFFFF, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(column + 16 * v))),
              xb, acc[s][v]);
      }
    for (int v = 0; v < 8; ++v)
      _mm512_storeu_ps(y + i0 + 16 * v, _mm512_add_ps(_mm512_add_ps(acc[0][v], acc[1][v]),
                                                      _mm512_loadu_ps(y + i0 + 16 * v)));
  }
}

void BM_GemvHalfPacked(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1);
  std::vector<float> w = random_vector(m * k, 1), x = random_vector(k, 2), y(m);
  nnkit::PackedMatrix packed;
  nnkit::pack_rows(w.data(), m, k, k, packed);
  HalfPacked half;
  pack_half(packed, half);
  for (auto _ : state) {
    gemv_half(half, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, m, k);
}

#ifdef __AVX512BF16__
// bfloat16 weights and state (8-bit significand) through vdpbf16ps, which multiplies 32 pairs
// and adds them into 16 float sums in one instruction: half the bytes and a sixteenth of the
// instructions of the fp32 loop, at the price of rounding h to bfloat16 too.
struct Bf16Packed {
  int64_t rows = 0, cols = 0;  // rows a multiple of 128, cols even
  std::vector<uint32_t> data;  // panel p, column pair q, row r: (A[r, 2q], A[r, 2q + 1])
  std::vector<uint32_t> x;     // scratch: x as bfloat16 pairs
};

uint16_t to_bf16(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return static_cast<uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);  // to nearest even
}

void pack_bf16(const float* a, int64_t rows, int64_t cols, Bf16Packed& packed) {
  packed.rows = rows;
  packed.cols = cols;
  packed.data.resize(rows * cols / 2);
  packed.x.resize(cols / 2);
  for (int64_t i0 = 0; i0 < rows; i0 += 128)
    for (int64_t q = 0; q < cols / 2; ++q)
      for (int64_t r = 0; r < 128; ++r) {
        const float* row = a + (i0 + r) * cols;
        packed.data[i0 * cols / 2 + q * 128 + r] =
            to_bf16(row[2 * q]) | uint32_t{to_bf16(row[2 * q + 1])} << 16;
      }
}

void gemv_bf16(Bf16Packed& a, const float* x, float* y) {
  for (int64_t q = 0; q < a.cols / 2; ++q)
    a.x[q] = to_bf16(x[2 * q]) | uint32_t{to_bf16(x[2 * q + 1])} << 16;
  for (int64_t i0 = 0; i0 < a.rows; i0 += 128) {
    const uint32_t* panel = a.data.data() + i0 * a.cols / 2;
    __m512 acc[2][8];
    for (auto& set : acc)
      for (auto& v : set) v = _mm512_setzero_ps();
    for (int64_t q = 0; q < a.cols / 2; q += 2)
      for (int s = 0; s < 2; ++s) {
        const __m512bh xb = (__m512bh)_mm512_set1_epi32(static_cast<int>(a.x[q + s]));
        for (int v = 0; v < 8; ++v)
          acc[s][v] = _mm512_dpbf16_ps(
              acc[s][v], (__m512bh)_mm512_loadu_si512(panel + (q + s) * 128 + 16 * v), xb);
      }
    for (int v = 0; v < 8; ++v)
      _mm512_storeu_ps(y + i0 + 16 * v, _mm512_add_ps(_mm512_add_ps(acc[0][v], acc[1][v]),
                                                      _mm512_loadu_ps(y + i0 + 16 * v)));
  }
}

void BM_GemvBf16Packed(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1);
  std::vector<float> w = random_vector(m * k, 1), x = random_vector(k, 2), y(m);
  Bf16Packed packed;
  pack_bf16(w.data(), m, k, packed);
  for (auto _ : state) {
    gemv_bf16(packed, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, m, k);
}
#endif  // __AVX512BF16__

// Both cores without OpenMP's fork and join: a helper thread spins on a sequence number and
// computes the second half of the rows, each half packed in its own core's L2. It holds a
// core for as long as it lives, which a shared machine cannot afford.
class SpinHelper {
 public:
  explicit SpinHelper(std::function<void()> job)
      : job_(std::move(job)), thread_([this] {
          uint64_t seen = 0;
          while (!stop_.load(std::memory_order_relaxed)) {
            const uint64_t s = go_.load(std::memory_order_acquire);
            if (s == seen) {
              _mm_pause();
              continue;
            }
            job_();
            seen = s;
            done_.store(s, std::memory_order_release);
          }
        }) {}
  ~SpinHelper() {
    stop_.store(true);
    thread_.join();
  }
  void start() { go_.store(++sequence_, std::memory_order_release); }
  void wait() {
    while (done_.load(std::memory_order_acquire) != sequence_) _mm_pause();
  }

 private:
  std::function<void()> job_;
  uint64_t sequence_ = 0;
  alignas(64) std::atomic<uint64_t> go_{0};
  alignas(64) std::atomic<uint64_t> done_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void BM_GemvPackedSpinPair(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), half = m / 2;
  std::vector<float> w = random_vector(m * k, 1), x = random_vector(k, 2), y(m);
  nnkit::PackedMatrix parts[2];
  nnkit::pack_rows(w.data(), half, k, k, parts[0]);
  bool packed = false;
  SpinHelper helper([&] {
    if (!packed) nnkit::pack_rows(w.data() + half * k, m - half, k, k, parts[1]);
    packed = true;
    nnkit::gemv_packed(parts[1], x.data(), y.data() + half, true);
  });
  for (auto _ : state) {
    helper.start();
    nnkit::gemv_packed(parts[0], x.data(), y.data(), true);
    helper.wait();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, m, k);
}
#endif  // __AVX512F__

// One LSTM(128) step at batch 1, 6 input features, PyTorch's gate order (i, f, g, o):
// z = b + W_ih·x_t + W_hh·h, then i, f, o = σ(·), g = tanh(·), c = f·c + i·g, h = o·tanh(c).
// Arg: how the products are made. 0: nnkit::gemm; 1: gemv on the weights as stored;
// 2: gemv_packed; 3: W_hh packed in half precision; 4: W_hh split over a spinning helper;
// 5: W_hh and h in bfloat16.
void BM_LSTMStep(benchmark::State& state) {
  constexpr int64_t kUnits = 128, kFeatures = 6, kGates = 4 * kUnits;
  const int64_t variant = state.range(0);
  std::vector<float> w_ih = random_vector(kGates * kFeatures, 1),
                     w_hh = random_vector(kGates * kUnits, 2), bias = random_vector(kGates, 3),
                     x = random_vector(kFeatures, 4), h(kUnits), c(kUnits), z(kGates),
                     gates(kGates), c_act(kUnits);
  for (auto& v : w_hh) v *= 0.1f;  // keeps the state away from saturation
  nnkit::PackedMatrix w_ih_packed, w_hh_packed, w_hh_low;
  nnkit::pack_rows(w_ih.data(), kGates, kFeatures, kFeatures, w_ih_packed);
  nnkit::pack_rows(w_hh.data(), kGates, kUnits, kUnits, w_hh_packed);
#ifdef __AVX512F__
  HalfPacked w_hh_half;
  pack_half(w_hh_packed, w_hh_half);
#ifdef __AVX512BF16__
  Bf16Packed w_hh_bf16;
  pack_bf16(w_hh.data(), kGates, kUnits, w_hh_bf16);
#endif
  // Gate rows [256, 512) on the helper's core, [0, 256) on this one.
  nnkit::pack_rows(w_hh.data(), kGates / 2, kUnits, kUnits, w_hh_low);
  nnkit::PackedMatrix w_hh_high;
  std::unique_ptr<SpinHelper> helper;
  if (variant == 4)
    helper = std::make_unique<SpinHelper>([&] {
      if (w_hh_high.rows == 0)
        nnkit::pack_rows(w_hh.data() + kGates / 2 * kUnits, kGates / 2, kUnits, kUnits, w_hh_high);
      nnkit::gemv_packed(w_hh_high, h.data(), z.data() + kGates / 2, true);
    });
#else
  if (variant > 2) {
    state.SkipWithError("AVX-512 only");
    return;
  }
#endif
#ifndef __AVX512BF16__
  if (variant == 5) {
    state.SkipWithError("AVX512_BF16 only");
    return;
  }
#endif
  const auto sigmoid = nnkit::Activation::sigmoid, tanh = nnkit::Activation::tanh;
  for (auto _ : state) {
    std::copy(bias.begin(), bias.end(), z.begin());
    switch (variant) {
      case 0:
        nnkit::gemm(nnkit::Trans::No, nnkit::Trans::Yes, 1, kGates, kFeatures, 1.0f, x.data(),
                    kFeatures, w_ih.data(), kFeatures, 1.0f, z.data(), kGates);
        nnkit::gemm(nnkit::Trans::No, nnkit::Trans::Yes, 1, kGates, kUnits, 1.0f, h.data(), kUnits,
                    w_hh.data(), kUnits, 1.0f, z.data(), kGates);
        break;
      case 1:
        nnkit::gemv(kGates, kFeatures, w_ih.data(), kFeatures, x.data(), z.data(), true);
        nnkit::gemv(kGates, kUnits, w_hh.data(), kUnits, h.data(), z.data(), true);
        break;
      case 2:
        nnkit::gemv_packed(w_ih_packed, x.data(), z.data(), true);
        nnkit::gemv_packed(w_hh_packed, h.data(), z.data(), true);
        break;
#ifdef __AVX512F__
      case 3:
        nnkit::gemv_packed(w_ih_packed, x.data(), z.data(), true);
        gemv_half(w_hh_half, h.data(), z.data());
        break;
      case 4:
        nnkit::gemv_packed(w_ih_packed, x.data(), z.data(), true);
        helper->start();
        nnkit::gemv_packed(w_hh_low, h.data(), z.data(), true);
        helper->wait();
        break;
#endif
#ifdef __AVX512BF16__
      case 5:
        nnkit::gemv_packed(w_ih_packed, x.data(), z.data(), true);
        gemv_bf16(w_hh_bf16, h.data(), z.data());
        break;
#endif
    }
    nnkit::activation_forward(sigmoid, 0.0f, 1, 2 * kUnits, z.data(), gates.data());
    nnkit::activation_forward(tanh, 0.0f, 1, kUnits, z.data() + 2 * kUnits,
                              gates.data() + 2 * kUnits);
    nnkit::activation_forward(sigmoid, 0.0f, 1, kUnits, z.data() + 3 * kUnits,
                              gates.data() + 3 * kUnits);
    const float *i = gates.data(), *f = i + kUnits, *g = f + kUnits, *o = g + kUnits;
    for (int64_t u = 0; u < kUnits; ++u) c[u] = f[u] * c[u] + i[u] * g[u];
    nnkit::activation_forward(tanh, 0.0f, 1, kUnits, c.data(), c_act.data());
    for (int64_t u = 0; u < kUnits; ++u) h[u] = o[u] * c_act[u];
    benchmark::DoNotOptimize(h.data());
    benchmark::ClobberMemory();
  }
  state.counters["steps/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

#ifdef __AVX512F__
// The rate a core reads a buffer of the given KiB that sits in its caches: eight independent
// sums of 64-byte loads, no other work. The ceiling of a batch-1 product whose matrix is that
// size (LSTM(128)'s weights are 268 KiB: past L1, inside L2).
void BM_CacheRead(benchmark::State& state) {
  const int64_t floats = state.range(0) * 1024 / 4;
  // Aligned to a cache line: a load that straddles two lines costs two.
  const std::vector<float> buffer = random_vector(floats + 16, 9);
  const float* p = buffer.data();
  p += (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64 / sizeof(float);
  for (auto _ : state) {
    // Named accumulators, not an array: GCC keeps these in registers.
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
    for (int64_t i = 0; i + 128 <= floats; i += 128) {
      s0 = _mm512_add_ps(s0, _mm512_load_ps(p + i));
      s1 = _mm512_add_ps(s1, _mm512_load_ps(p + i + 16));
      s2 = _mm512_add_ps(s2, _mm512_load_ps(p + i + 32));
      s3 = _mm512_add_ps(s3, _mm512_load_ps(p + i + 48));
      s4 = _mm512_add_ps(s4, _mm512_load_ps(p + i + 64));
      s5 = _mm512_add_ps(s5, _mm512_load_ps(p + i + 80));
      s6 = _mm512_add_ps(s6, _mm512_load_ps(p + i + 96));
      s7 = _mm512_add_ps(s7, _mm512_load_ps(p + i + 112));
    }
    __m512 total = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)),
                                 _mm512_add_ps(_mm512_add_ps(s4, s5), _mm512_add_ps(s6, s7)));
    benchmark::DoNotOptimize(total);
  }
  state.counters["GB/s"] = benchmark::Counter(
      4.0 * floats * state.iterations(), benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}
#endif

void sizes(benchmark::internal::Benchmark* b) {
  for (auto [m, k] : {std::pair{512, 128}, {384, 128}, {1024, 256}, {2048, 512}}) b->Args({m, k});
  b->Unit(benchmark::kNanosecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_GemmM1)->Apply(sizes);
BENCHMARK(BM_GemvReference)->Apply(sizes);
BENCHMARK(BM_Gemv)->Apply(sizes);
BENCHMARK(BM_GemvPacked)->Apply(sizes);
BENCHMARK(BM_GemmM1Transposed)->Apply(sizes);
BENCHMARK(BM_GemvTransposedReference)->Apply(sizes);
BENCHMARK(BM_GemvTransposed)->Apply(sizes);
BENCHMARK(BM_GemvTransposedPacked)->Apply(sizes);
BENCHMARK(BM_Pack)->Apply(sizes);
BENCHMARK(BM_GemvPackedTwoThreads)->Apply(sizes);
#ifdef __AVX512F__
BENCHMARK(BM_GemvHalfPacked)->Apply(sizes);
BENCHMARK(BM_GemvPackedSpinPair)->Apply(sizes);
BENCHMARK(BM_CacheRead)->Arg(32)->Arg(268)->Arg(1024)->Unit(benchmark::kNanosecond)->UseRealTime();
#endif
#ifdef __AVX512BF16__
BENCHMARK(BM_GemvBf16Packed)->Apply(sizes);
#endif
BENCHMARK(BM_LSTMStep)->DenseRange(0, 5)->Unit(benchmark::kNanosecond)->UseRealTime();
BENCHMARK_MAIN();
