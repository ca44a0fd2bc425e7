// nnkit evaluate: a model's loss and metrics on arrays or IDX files.
#include <chrono>
#include <iostream>
#include <memory>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"

namespace nnkit::cli {

namespace {
struct EvaluateArgs {
  std::string model;
  DataArgs data;
  int64_t batch_size = 256;
  bool json = false;
};
}  // namespace

void add_evaluate_command(CLI::App& app) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* cmd =
      app.add_subcommand("evaluate", "Print a model's loss and metrics on inputs and targets");
  cmd->add_option("--model", args->model, "Model file (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  add_data_options(cmd, args->data, /*targets=*/true);
  cmd->add_option("--batch-size", args->batch_size, "Samples per forward pass")->check(positive());
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->callback([args] {
    require_data(args->data, /*targets=*/true);
    Sequential model = load_model(args->model);
    if (!model.compiled())
      throw ValueError(fmt::format("--model {}: the model's spec has no loss", args->model));
    auto [x, y] = read_data(args->data);
    // The forward passes alone are timed, without reading the model and the data, so that
    // the figure is the model's inference speed.
    const auto start = std::chrono::steady_clock::now();
    auto results = model.evaluate(x, y, args->batch_size);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double samples_per_second = seconds > 0.0 ? static_cast<double>(x.dim(0)) / seconds : 0.0;
    if (args->json) {
      nlohmann::json out;
      for (const auto& [name, value] : results) out[name] = value;
      out["seconds"] = seconds;
      out["samples_per_second"] = samples_per_second;
      std::cout << out.dump() << "\n";
    } else {
      std::cout << fmt::format("loss: {:.9g}", results.at("loss"));
      for (const auto& name : model.metric_names())
        std::cout << fmt::format(" - {}: {:.9g}", name, results.at(name));
      std::cout << fmt::format(" - {:.3f} s, {:.0f} samples/s\n", seconds, samples_per_second);
    }
  });
}

}  // namespace nnkit::cli
