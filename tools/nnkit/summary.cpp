// nnkit summary: the layer table of a spec or a model file.
#include <iostream>
#include <memory>

#include "commands.h"
#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/io/model_file.h"

namespace nnkit::cli {

void add_summary_command(CLI::App& app) {
  auto spec = std::make_shared<std::string>();
  auto model_path = std::make_shared<std::string>();
  CLI::App* cmd =
      app.add_subcommand("summary", "Print a model's layers, output shapes and parameter counts");
  auto* s = cmd->add_option("--spec", *spec, "Model spec (JSON)")->check(CLI::ExistingFile);
  auto* m = cmd->add_option("--model", *model_path, "Model file (.safetensors)")
                ->check(CLI::ExistingFile);
  s->excludes(m);
  cmd->callback([spec, model_path, s, m] {
    if (s->count() + m->count() != 1) throw CLI::RequiredError("--spec or --model");
    Sequential model;
    if (!spec->empty()) {
      try {
        model = Sequential::from_spec(read_spec_file(*spec));
      } catch (const FormatError&) {
        throw;
      } catch (const Error& e) {
        throw ValueError(fmt::format("--spec {}: {}", *spec, e.what()));
      }
    } else {
      model = load_model(*model_path);
    }
    std::cout << model.summary();
  });
}

}  // namespace nnkit::cli
