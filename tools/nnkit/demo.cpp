// nnkit demo: the main job on embedded data. Until the health-forecasting demo exists, the
// design notes' classic backpropagation learning XOR, then the same task with Sequential.
#include <iostream>
#include <memory>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/layers/dense.h"
#include "nnkit/models/classic_bp.h"

namespace nnkit::cli {

namespace {

void run_demo(uint64_t seed) {
  const Tensor x({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
  const Tensor t({4, 1}, {0, 1, 1, 0});

  std::cout
      << "Classic backpropagation (the design notes' algorithm) on XOR: 2-4-1 sigmoid network,\n"
         "weights uniform in (-1, 1), one random sample per step, learning rate 0.5, precision "
         "1e-3\n";
  ClassicBP bp({.layer_sizes = {2, 4, 1},
                .learning_rate = 0.5f,
                .precision = 1e-3,
                .max_iterations = 200000,
                .seed = seed});
  ClassicBPResult r = bp.train(x, t);
  std::cout << fmt::format("  {} after {} steps, error {:.6f}\n",
                           r.converged ? "converged" : "stopped", r.iterations, r.error);
  Tensor out = bp.predict(x);
  for (int i = 0; i < 4; ++i) {
    std::cout << fmt::format("  {:.0f} xor {:.0f} -> {:.4f} (target {:.0f})\n", x[2 * i],
                             x[2 * i + 1], out[i], t[i]);
  }

  std::cout << "\nThe same with Sequential: Dense(8, tanh) -> Dense(1, sigmoid), binary "
               "cross-entropy, Adam\n";
  Sequential model({.input_shape = {2}, .seed = seed});
  model.add(Dense({.units = 8, .activation = "tanh"}));
  model.add(Dense({.units = 1, .activation = "sigmoid"}));
  model.compile(make_adam({.learning_rate = 0.05f}), make_loss("binary_crossentropy"),
                {"accuracy"});
  std::cout << model.summary();
  History h = model.fit(x, t, {.epochs = 300, .batch_size = 4});
  std::cout << fmt::format("  after {} epochs: loss {:.5f}, accuracy {:.2f}\n", h.epochs(),
                           h["loss"].back(), h["accuracy"].back());
  Tensor p = model.predict(x);
  for (int i = 0; i < 4; ++i) {
    std::cout << fmt::format("  {:.0f} xor {:.0f} -> {:.4f}\n", x[2 * i], x[2 * i + 1], p[i]);
  }
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto seed = std::make_shared<uint64_t>(1);
  CLI::App* cmd = app.add_subcommand("demo", "Run the main job on its embedded data");
  cmd->add_option("--seed", *seed, "Random seed");
  cmd->callback([seed] { run_demo(*seed); });
}

}  // namespace nnkit::cli
