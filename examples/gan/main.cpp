// Two GANs (include/nnkit/models/gan.h): one on a ring of 8 Gaussians in the plane, reporting
// how many modes its samples cover with a scatter plot of real against generated samples, and
// a small dense one on Fashion-MNIST writing a grid of samples every few epochs.
//   build/example_gan [--data mixture|fashion-mnist|both] [--epochs N] [--out-dir DIR]
//                     [--seed S] [--images N] [--fashion-mnist DIR]
// --epochs applies to each experiment run (default: 60 for the mixture, 12 for Fashion-MNIST).
#include <cstdlib>
#include <iostream>
#include <string>

#include "nnkit/error.h"
#include "nnkit/models/gan_experiments.h"

namespace {

int usage(const std::string& message) {
  std::cerr << "example_gan: " << message
            << "\nusage: example_gan [--data mixture|fashion-mnist|both] [--epochs N] "
               "[--out-dir DIR] [--seed S] [--images N] [--fashion-mnist DIR]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  nnkit::GanExperimentOptions options;
  std::string data = "both";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage(flag + ": needs a value");
    const std::string value = argv[++i];
    char* end = nullptr;
    const long long number = std::strtoll(value.c_str(), &end, 10);
    const bool numeric = !value.empty() && *end == '\0';
    if (flag == "--data") {
      data = value;
    } else if (flag == "--out-dir") {
      options.out_dir = value;
    } else if (flag == "--fashion-mnist") {
      options.fashion_mnist_dir = value;
    } else if (flag == "--epochs" && numeric && number >= 1 && number < 100000) {
      options.epochs = static_cast<int>(number);
    } else if (flag == "--seed" && numeric && number >= 0) {
      options.seed = static_cast<uint64_t>(number);
    } else if (flag == "--images" && numeric && number >= 1) {
      options.images = number;
    } else {
      return usage("bad flag or value: " + flag + " " + value);
    }
  }
  if (data != "mixture" && data != "fashion-mnist" && data != "both")
    return usage("--data must be mixture, fashion-mnist or both, got " + data);
  try {
    if (data != "fashion-mnist") {
      const nnkit::GanExperimentReport r = nnkit::run_gan_mixture(options, std::cout);
      if (r.coverage.covered < 8) std::cout << "NOT all modes covered\n";
      std::cout << "\n";
    }
    if (data != "mixture") nnkit::run_gan_fashion(options, std::cout);
  } catch (const nnkit::Error& e) {
    std::cerr << "example_gan: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
