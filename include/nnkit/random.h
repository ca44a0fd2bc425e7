// Rng: the one seeded random generator of nnkit. Every random choice (initial weights,
// shuffling, dropout masks) draws from an Rng passed in, so the same seed gives a
// bit-identical run. xoshiro256** rather than std::mt19937 plus std:: distributions,
// because the standard distributions differ between library implementations; these
// draws are defined here and are the same everywhere.
#pragma once

#include <array>
#include <cstdint>

namespace nnkit {

class Rng {
 public:
  explicit Rng(uint64_t seed = 42);

  uint64_t next_u64();
  // Uniform in [0, 1) with 24 random bits (exactly representable as float).
  float uniform();
  // Uniform in [low, high).
  float uniform(float low, float high);
  // Standard normal (Box-Muller, in double).
  float normal();
  float normal(float mean, float stddev);
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n);
  // An independent generator for a sub-task (a layer's dropout, a shuffle), derived
  // deterministically from this one.
  Rng split();

  // The full state, for checkpoints.
  std::array<uint64_t, 4> state() const { return state_; }
  void set_state(const std::array<uint64_t, 4>& state) { state_ = state; }

 private:
  std::array<uint64_t, 4> state_;
};

}  // namespace nnkit
