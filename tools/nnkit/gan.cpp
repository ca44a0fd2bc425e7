// nnkit gan: trains a GAN on a ring of 8 Gaussians (printing how many modes its samples cover,
// with a scatter plot) or on Fashion-MNIST (a grid of samples every few epochs): the
// experiments of examples/gan, from nnkit/models/gan_experiments.h.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/models/gan_experiments.h"

namespace nnkit::cli {

namespace {

struct GanArgs {
  std::string data = "mixture";
  GanExperimentOptions options;
};

void run_gan(GanArgs& args) {
  std::error_code ec;
  if (!std::filesystem::is_directory(args.options.out_dir, ec))
    throw IoError(fmt::format("--out-dir {}: not a directory", args.options.out_dir));
  if (args.data == "mixture") {
    run_gan_mixture(args.options, std::cout);
  } else {
    run_gan_fashion(args.options, std::cout);
  }
}

}  // namespace

void add_gan_command(CLI::App& app) {
  auto args = std::make_shared<GanArgs>();
  CLI::App* cmd = app.add_subcommand(
      "gan", "Train a GAN on a ring of 8 Gaussians (modes covered) or on Fashion-MNIST (samples)");
  cmd->add_option("--data", args->data, "mixture or fashion-mnist")
      ->check(CLI::IsMember({"mixture", "fashion-mnist"}))
      ->capture_default_str();
  cmd->add_option("--epochs", args->options.epochs,
                  "Epochs (default: 60 for the mixture, 12 for Fashion-MNIST)")
      ->check(positive());
  cmd->add_option("--out-dir", args->options.out_dir, "Directory for the PNG pictures")
      ->capture_default_str();
  cmd->add_option("--seed", args->options.seed, "Random seed (data, weights, noise)")
      ->capture_default_str();
  cmd->add_option("--images", args->options.images,
                  "Fashion-MNIST: the first this many training images (default 12000)")
      ->check(positive());
  cmd->add_option("--png-every", args->options.png_every,
                  "Fashion-MNIST: a grid of samples every this many epochs (default 5)")
      ->check(positive());
  cmd->add_option("--fashion-mnist", args->options.fashion_mnist_dir,
                  "Directory of Fashion-MNIST (train-images-idx3-ubyte.gz)")
      ->capture_default_str();
  cmd->callback([args] { run_gan(*args); });
}

}  // namespace nnkit::cli
