// nnkit hopfield: the capacity of a Hopfield network, measured. For each number of stored
// patterns P, pattern sets are stored by the chosen rule(s) and every pattern is recalled from a
// copy with a fraction of its bits flipped; printed per P: the fraction of probes that end
// exactly on their pattern, the mean overlap with it, the fraction that reached a fixed point
// and the mean number of steps. Patterns are random, or binarised Fashion-MNIST test images.
#include "nnkit/models/hopfield.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/data/idx.h"
#include "nnkit/error.h"

namespace nnkit::cli {

namespace {

struct HopfieldArgs {
  int64_t neurons = 200;
  std::vector<int64_t> patterns;  // empty: fractions of N (kDefaultLoads)
  double noise = 0.1;
  std::string rule = "both", mode = "async", fashion_mnist;
  uint64_t seed = 1;
  int64_t probes = 100, max_steps = 100;
};

// P/N of the default curve: from well below the Hebbian capacity (0.138) to far above it.
constexpr double kDefaultLoads[] = {0.025, 0.05, 0.1, 0.138, 0.2, 0.3, 0.5};

struct Row {
  RecallScore score;
  bool dependent = false;  // the projection rule refused a set
};

// Stores each set by `rule` and pools the scores of all of them.
Row measure(const std::vector<std::vector<BipolarState>>& sets, HopfieldRule rule,
            const HopfieldArgs& args, const HopfieldRecallOptions& options, Rng& rng) {
  Row row;
  RecallScore& total = row.score;
  for (const auto& patterns : sets) {
    Hopfield net(static_cast<int64_t>(patterns[0].size()));
    try {
      net.store(patterns, rule);
    } catch (const ValueError&) {
      row.dependent = true;
      return row;
    }
    const RecallScore s = score_recall(net, patterns, args.noise, options, rng);
    const double k = static_cast<double>(s.probes);
    total.probes += s.probes;
    total.exact += s.exact * k;
    total.mean_overlap += s.mean_overlap * k;
    total.converged += s.converged * k;
    total.mean_steps += s.mean_steps * k;
  }
  const double k = static_cast<double>(total.probes);
  total.exact /= k;
  total.mean_overlap /= k;
  total.converged /= k;
  total.mean_steps /= k;
  return row;
}

std::string row_text(const Row& r) {
  if (r.dependent) return fmt::format("{:>31}", "linearly dependent");
  return fmt::format("{:>6.3f} {:>7.3f} {:>7.3f} {:>6.2f}", r.score.exact, r.score.mean_overlap,
                     r.score.converged, r.score.mean_steps);
}

void run_hopfield(const HopfieldArgs& args) {
  std::vector<BipolarState> images;
  std::string source;
  int64_t n = args.neurons;
  if (!args.fashion_mnist.empty()) {
    const std::string path = args.fashion_mnist + "/t10k-images-idx3-ubyte.gz";
    try {
      images = bipolar_patterns(read_idx_images(path), 0.5f);
    } catch (const IoError& e) {
      throw IoError(fmt::format("--fashion-mnist: {}", e.what()));
    } catch (const FormatError& e) {
      throw FormatError(fmt::format("--fashion-mnist: {}", e.what()));
    }
    if (images.empty()) throw FormatError(fmt::format("--fashion-mnist: {} holds no image", path));
    n = static_cast<int64_t>(images[0].size());
    source = fmt::format("binarised images of {} (pixel > 0.5)", path);
  } else {
    source = "random patterns";
  }

  std::vector<int64_t> counts = args.patterns;
  if (counts.empty()) {
    for (double load : kDefaultLoads)
      counts.push_back(std::max<int64_t>(1, std::llround(load * static_cast<double>(n))));
    counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  }
  for (int64_t p : counts) {
    if (!images.empty() && p > static_cast<int64_t>(images.size())) {
      throw ValueError(fmt::format("--patterns: {} is more than the {} images of --fashion-mnist",
                                   p, images.size()));
    }
  }
  std::vector<HopfieldRule> rules;
  if (args.rule != "projection") rules.push_back(HopfieldRule::kHebbian);
  if (args.rule != "hebbian") rules.push_back(HopfieldRule::kProjection);
  const HopfieldRecallOptions options{.update = parse_hopfield_update(args.mode),
                                      .max_steps = args.max_steps};

  std::cout << fmt::format(
      "Hopfield network, N = {} neurons, {}; each pattern recalled ({}) from a copy with {:g}% "
      "of its bits flipped ({} bits), at least {} probes a row, seed {}; 0.138·N = {:.1f}\n"
      "exact: fraction of probes ending on their pattern; overlap: mean (1/N)·s·p at the end;\n"
      "stable: fraction reaching a fixed point within {} steps; steps: mean steps that changed "
      "the state\n\n",
      n, source, args.mode, 100 * args.noise, std::llround(args.noise * static_cast<double>(n)),
      args.probes, args.seed, 0.138 * static_cast<double>(n), args.max_steps);
  std::string header = fmt::format("{:>5} {:>6}", "P", "P/N");
  std::string columns = fmt::format("{:>12}", "");
  for (HopfieldRule rule : rules) {
    header += fmt::format(" | {:<29}", hopfield_rule_name(rule));
    columns += fmt::format(" | {:>6} {:>7} {:>7} {:>6}", "exact", "overlap", "stable", "steps");
  }
  header.erase(header.find_last_not_of(' ') + 1);
  std::cout << header << "\n" << columns << "\n";

  Rng data_rng(args.seed), recall_rng(args.seed + 1);
  for (int64_t p : counts) {
    // Enough sets of P patterns for the probes asked for: new random draws, or the next P
    // images (wrapping round to the first).
    std::vector<std::vector<BipolarState>> sets;
    std::size_t next = 0;
    for (int64_t probes = 0; probes < args.probes; probes += p) {
      if (images.empty()) {
        sets.push_back(random_patterns(p, n, data_rng));
      } else {
        if (next + static_cast<std::size_t>(p) > images.size()) next = 0;
        sets.emplace_back(images.begin() + static_cast<std::ptrdiff_t>(next),
                          images.begin() + static_cast<std::ptrdiff_t>(next + p));
        next += static_cast<std::size_t>(p);
      }
    }
    std::string line = fmt::format("{:>5} {:>6.3f}", p, static_cast<double>(p) / n);
    for (HopfieldRule rule : rules)
      line += " | " + row_text(measure(sets, rule, args, options, recall_rng));
    std::cout << line << "\n";
    std::cout.flush();
  }
}

}  // namespace

void add_hopfield_command(CLI::App& app) {
  auto args = std::make_shared<HopfieldArgs>();
  CLI::App* cmd = app.add_subcommand(
      "hopfield", "Measure a Hopfield network's recall against the number of stored patterns");
  cmd->add_option("--neurons", args->neurons, "Neurons N, for random patterns")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--patterns", args->patterns,
                  "Numbers of stored patterns P, separated by commas (default: N times 0.025, "
                  "0.05, 0.1, 0.138, 0.2, 0.3, 0.5)")
      ->delimiter(',')
      ->check(positive());
  cmd->add_option("--noise", args->noise, "Fraction of bits flipped in each probe")
      ->check(fraction())
      ->capture_default_str();
  cmd->add_option("--rule", args->rule, "hebbian, projection or both")
      ->check(CLI::IsMember({"hebbian", "projection", "both"}))
      ->capture_default_str();
  cmd->add_option("--mode", args->mode, "async (one neuron at a time) or sync (all at once)")
      ->check(CLI::IsMember({"async", "sync"}))
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed (patterns, noise, update order)")
      ->capture_default_str();
  cmd->add_option("--probes", args->probes, "At least this many probes per P")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--max-steps", args->max_steps, "Recall steps at most (sweeps when async)")
      ->check(positive())
      ->capture_default_str();
  CLI::Option* images = cmd->add_option(
      "--fashion-mnist", args->fashion_mnist,
      "Directory of Fashion-MNIST (t10k-images-idx3-ubyte.gz): its test images binarised, "
      "N = 784, instead of random patterns");
  cmd->get_option("--neurons")->excludes(images);
  cmd->callback([args] { run_hopfield(*args); });
}

}  // namespace nnkit::cli
