// XOR with the design notes' classic backpropagation: a 2-H-1 sigmoid network trained one
// random sample at a time until the error falls below the precision.
//   build/example_xor [hidden units] [seed]
#include <cstdlib>
#include <iostream>

#include "fmt/format.h"
#include "nnkit/models/classic_bp.h"

int main(int argc, char** argv) {
  int64_t hidden = argc > 1 ? std::atoll(argv[1]) : 4;
  uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  if (hidden < 1) {
    std::cerr << "usage: example_xor [hidden units >= 1] [seed]\n";
    return 2;
  }
  const nnkit::Tensor x({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
  const nnkit::Tensor t({4, 1}, {0, 1, 1, 0});
  nnkit::ClassicBP bp({.layer_sizes = {2, hidden, 1},
                       .learning_rate = 0.5f,
                       .precision = 1e-3,
                       .max_iterations = 500000,
                       .seed = seed});
  nnkit::ClassicBPResult r = bp.train(x, t);
  std::cout << fmt::format("{} after {} steps, error {:.6f}\n",
                           r.converged ? "converged" : "did not converge", r.iterations, r.error);
  nnkit::Tensor out = bp.predict(x);
  for (int i = 0; i < 4; ++i) {
    std::cout << fmt::format("{:.0f} xor {:.0f} = {:.4f}\n", x[2 * i], x[2 * i + 1], out[i]);
  }
  return r.converged ? 0 : 1;
}
