// nnkit bench: training steps of recurrent models, the figures bench/compare_pytorch.py sets
// against PyTorch. A step is Sequential::train_on_batch (forward, MSE loss, backward, SGD) of
// LSTM or GRU layers and a Dense(1) head on the last output, on seeded random data.
//
// Each configuration runs in a forked child process, so that its peak resident set
// (ru_maxrss, from wait4) is its own and not the maximum of every configuration before it.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/kernels/threads.h"
#include "nnkit/layers/dense.h"
#include "nnkit/layers/gru.h"
#include "nnkit/layers/lstm.h"

namespace nnkit::cli {

namespace {

// One benchmark configuration: `layers` stacked recurrent layers of `units` on sequences of
// `steps` time steps of `features`, `batch` sequences per training step. A streaming
// configuration times instead one step() of one recurrent layer at batch 1: a new time step,
// the state carried from the call before.
struct BenchConfig {
  std::string name = {};
  int64_t features = 0, units = 0, layers = 0, batch = 0, steps = 0;
  bool streaming = false;
  bool half_weights = false;  // LSTM only: step() on half-precision weights (StepPrecision)
  bool hidden = false;        // not part of "all" (tiny: the CLI test's smoke run)
};

const std::vector<BenchConfig>& configs() {
  static const std::vector<BenchConfig> all = {
      {.name = "reference", .features = 6, .units = 128, .layers = 1, .batch = 1, .steps = 64},
      {.name = "batch32", .features = 6, .units = 128, .layers = 1, .batch = 32, .steps = 64},
      {.name = "stacked", .features = 64, .units = 256, .layers = 2, .batch = 64, .steps = 100},
      {.name = "wide", .features = 256, .units = 512, .layers = 1, .batch = 128, .steps = 50},
      {.name = "stream",
       .features = 6,
       .units = 128,
       .layers = 1,
       .batch = 1,
       .steps = 1,
       .streaming = true},
      {.name = "stream16",
       .features = 6,
       .units = 128,
       .layers = 1,
       .batch = 1,
       .steps = 1,
       .streaming = true,
       .half_weights = true},
      {.name = "tiny",
       .features = 3,
       .units = 8,
       .layers = 1,
       .batch = 2,
       .steps = 5,
       .hidden = true},
  };
  return all;
}

struct BenchArgs {
  bool json = false;
  std::string model = "all";
  std::vector<std::string> config = {"all"};
  int steps_per_round = 0;  // 0: chosen from the warm-up so that a round takes about 0.2 s
  int warmup = 3;
  int rounds = 5;
};

// Default member initializers throughout: designated initializers may leave any out.
struct BenchResult {
  std::string model = {};
  BenchConfig config = {};
  std::vector<double> round_ms = {};  // ms per step of each round
  int steps_per_round = 0;
  double ms_per_step = 0;  // the median of round_ms
  double peak_rss_mib = 0;
  double loss = 0;  // the last step's loss: the steps did train something
};

Tensor random_tensor(const Shape& shape, Rng& rng) {
  Tensor t(shape);
  for (float& v : t) v = rng.uniform(-1, 1);
  return t;
}

std::unique_ptr<Layer> recurrent_layer(const std::string& model, int64_t units,
                                       bool return_sequences) {
  if (model == "lstm")
    return std::make_unique<LSTM>(
        LSTMOptions{.units = units, .return_sequences = return_sequences});
  return std::make_unique<GRU>(GRUOptions{.units = units, .return_sequences = return_sequences});
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Warm-up, then `rounds` rounds of `steps_per_round` calls of `step`; ms per call of each round.
template <class Step>
std::vector<double> time_rounds(const BenchArgs& args, int& steps_per_round, Step&& step) {
  using Clock = std::chrono::steady_clock;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  // The first steps size the buffers, JIT-compile oneDNN's kernels and start OpenMP's threads.
  // The fastest of them sizes the rounds: on a busy machine one step can take a hundred times
  // the usual, and a round sized from that step alone would be a single step.
  const int warmup = std::max(args.warmup, args.steps_per_round == 0 ? 1 : 0);
  double fastest = 0;
  for (int i = 0; i < warmup; ++i) {
    auto t0 = Clock::now();
    step();
    const double ms = ms_since(t0);
    fastest = i == 0 ? ms : std::min(fastest, ms);
  }
  steps_per_round = args.steps_per_round;
  if (steps_per_round == 0) {
    steps_per_round = static_cast<int>(std::clamp(200.0 / std::max(fastest, 1e-3), 1.0, 10000.0));
  }
  std::vector<double> round_ms;
  for (int r = 0; r < args.rounds; ++r) {
    auto t0 = Clock::now();
    for (int i = 0; i < steps_per_round; ++i) step();
    round_ms.push_back(ms_since(t0) / steps_per_round);
  }
  return round_ms;
}

BenchResult run_config(const BenchArgs& args, const std::string& model_name, const BenchConfig& c) {
  BenchResult result{.model = model_name, .config = c};
  Rng data_rng(7);
  if (c.streaming) {
    std::unique_ptr<Layer> layer = recurrent_layer(model_name, c.units, false);
    Rng rng(1);
    layer->build({c.steps, c.features}, rng);
    // Recurrent::step, the streaming API: one time step, the state carried from call to call.
    auto& recurrent = dynamic_cast<Recurrent&>(*layer);
    if (c.half_weights) dynamic_cast<LSTM&>(*layer).set_step_precision(StepPrecision::float16);
    const Tensor x_t = random_tensor({c.batch, c.features}, data_rng);
    result.round_ms = time_rounds(args, result.steps_per_round, [&] { (void)recurrent.step(x_t); });
  } else {
    Sequential model({.input_shape = {c.steps, c.features}, .seed = 1});
    for (int64_t l = 0; l < c.layers; ++l)
      model.add(recurrent_layer(model_name, c.units, l + 1 < c.layers));
    model.add(Dense({.units = 1}));
    model.compile(make_sgd({.learning_rate = 0.01f}), make_loss("mse"));
    model.build({c.steps, c.features});
    const Tensor x = random_tensor({c.batch, c.steps, c.features}, data_rng);
    const Tensor y = random_tensor({c.batch, 1}, data_rng);
    result.round_ms = time_rounds(args, result.steps_per_round,
                                  [&] { result.loss = model.train_on_batch(x, y); });
  }
  result.ms_per_step = median(result.round_ms);
  return result;
}

nlohmann::json to_json(const BenchResult& r) {
  const BenchConfig& c = r.config;
  return {{"model", r.model},
          {"config", c.name},
          {"kind", c.streaming ? "stream" : "train"},
          {"weights", c.half_weights ? "float16" : "float32"},
          {"input_features", c.features},
          {"units", c.units},
          {"layers", c.layers},
          {"batch", c.batch},
          {"steps", c.steps},
          {"ms_per_step", r.ms_per_step},
          {"steps_per_s", 1e3 / r.ms_per_step},
          {"peak_rss_mib", r.peak_rss_mib},
          {"steps_per_round", r.steps_per_round},
          {"round_ms", r.round_ms},
          {"loss", r.loss}};
}

BenchResult from_json(const nlohmann::json& j, const BenchConfig& c) {
  return {.model = j.at("model"),
          .config = c,
          .round_ms = j.at("round_ms"),
          .steps_per_round = j.at("steps_per_round"),
          .ms_per_step = j.at("ms_per_step"),
          .loss = j.at("loss")};
}

// Runs one configuration in a child process; its result comes back as JSON through a pipe.
// The parent never runs a parallel region before forking, so the child's OpenMP starts clean.
BenchResult run_in_child(const BenchArgs& args, const std::string& model_name,
                         const BenchConfig& c) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::cout.flush();
  std::cerr.flush();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(fds[0]);
    int status = 0;
    std::string text;
    try {
      text = to_json(run_config(args, model_name, c)).dump();
    } catch (const std::exception& e) {
      text = nlohmann::json{{"error", e.what()}}.dump();
      status = 1;
    }
    for (std::size_t done = 0; done < text.size();) {
      const ssize_t n = write(fds[1], text.data() + done, text.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    close(fds[1]);
    _exit(status);  // no destructors, no flushing of buffers inherited from the parent
  }
  close(fds[1]);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  const std::string who = fmt::format("bench {} {}", model_name, c.name);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("error"))
    throw std::runtime_error(fmt::format("{}: {}", who, j["error"].get<std::string>()));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !j.is_object())
    throw std::runtime_error(fmt::format("{}: the child process failed", who));
  BenchResult result = from_json(j, c);
  result.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
  return result;
}

std::vector<BenchConfig> selected_configs(const std::vector<std::string>& names) {
  std::vector<BenchConfig> out;
  for (const std::string& name : names) {
    bool found = false;
    for (const BenchConfig& c : configs()) {
      if (name == c.name || (name == "all" && !c.hidden)) {
        out.push_back(c);
        found = true;
      }
    }
    if (!found) {
      std::string known;
      for (const BenchConfig& c : configs()) known += c.name + ", ";
      throw ValueError(
          fmt::format("--config: unknown configuration '{}'; expected {}all", name, known));
    }
  }
  return out;
}

void run_bench(const BenchArgs& args) {
  const std::vector<BenchConfig> chosen = selected_configs(args.config);
  std::vector<std::string> models;
  if (args.model == "all" || args.model == "lstm") models.push_back("lstm");
  if (args.model == "all" || args.model == "gru") models.push_back("gru");
  const int threads = num_threads();

  if (!args.json) {
    std::cout << fmt::format(
        "Training steps (forward, MSE, backward, SGD) of recurrent models with a Dense(1) "
        "head, {} threads;\nmedian of {} rounds after {} warm-up steps; peak RSS of the "
        "configuration's own process.\n\n",
        threads, args.rounds, args.warmup);
    std::cout << fmt::format("{:<6} {:<10} {:>4} {:>4} {:>6} {:>5} {:>5} {:>10} {:>9} {:>9}\n",
                             "model", "config", "I", "H", "layers", "batch", "T", "ms/step",
                             "steps/s", "peak MiB");
  }
  nlohmann::json results = nlohmann::json::array();
  for (const std::string& model_name : models) {
    for (const BenchConfig& c : chosen) {
      if (c.half_weights && model_name != "lstm") continue;  // an LSTM option
      BenchResult r = run_in_child(args, model_name, c);
      results.push_back(to_json(r));
      if (!args.json) {
        std::cout << fmt::format(
            "{:<6} {:<10} {:>4} {:>4} {:>6} {:>5} {:>5} {:>10.4g} {:>9.1f} {:>9.1f}\n", model_name,
            c.name + (c.streaming ? "*" : ""), c.features, c.units, c.layers, c.batch, c.steps,
            r.ms_per_step, 1e3 / r.ms_per_step, r.peak_rss_mib);
        std::cout.flush();
      }
    }
  }
  if (args.json) {
    nlohmann::json out = {{"threads", threads},
                          {"rounds", args.rounds},
                          {"warmup", args.warmup},
                          {"steps_per_round", args.steps_per_round},
                          {"optimizer", "sgd(learning_rate=0.01)"},
                          {"loss", "mse"},
                          {"head", "Dense(1) on the last output"},
                          {"results", results}};
    std::cout << out.dump() << "\n";
  } else if (std::any_of(chosen.begin(), chosen.end(),
                         [](const BenchConfig& c) { return c.streaming; })) {
    std::cout << "\n* stream: one step() of the recurrent layer alone on x_t [1, I], the state "
                 "carried from call to call (streaming inference); stream16: the same on "
                 "half-precision weights (LSTM only).\n";
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Time training steps of LSTM and GRU models (the PyTorch comparison's nnkit side)");
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_option("--model", args->model, "lstm, gru or all (default all)")
      ->check(CLI::IsMember({"lstm", "gru", "all"}));
  cmd->add_option("--config", args->config,
                  "reference, batch32, stacked, wide, stream, stream16 (LSTM only), tiny or all "
                  "(default all, which leaves out tiny); several separated by commas")
      ->delimiter(',');
  cmd->add_option("--steps-per-round", args->steps_per_round,
                  "Steps per timed round (default: as many as take about 0.2 s)")
      ->check(positive());
  cmd->add_option("--warmup", args->warmup,
                  "Untimed steps first (default 3; at least 1 without --steps-per-round)")
      ->check(non_negative());
  cmd->add_option("--rounds", args->rounds, "Timed rounds; the median is reported (default 5)")
      ->check(positive());
  cmd->callback([args] { run_bench(*args); });
}

}  // namespace nnkit::cli
