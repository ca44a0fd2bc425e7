// nnkit predict: a model's outputs for inputs from an array or an IDX file.
#include <memory>

#include "commands.h"
#include "nnkit/data/npy.h"
#include "nnkit/io/model_file.h"

namespace nnkit::cli {

namespace {
struct PredictArgs {
  std::string model, out;
  DataArgs data;
  int64_t batch_size = 256;
};
}  // namespace

void add_predict_command(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand("predict", "Run a model on inputs and write its outputs");
  cmd->add_option("--model", args->model, "Model file (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  add_data_options(cmd, args->data, /*targets=*/false);
  cmd->add_option("--out", args->out, "Outputs, .npy (float32)")->required();
  cmd->add_option("--batch-size", args->batch_size, "Samples per forward pass")->check(positive());
  cmd->callback([args] {
    require_data(args->data, /*targets=*/false);
    check_output_path("--out", args->out);
    Sequential model = load_model(args->model);
    write_npy(args->out, model.predict(read_data(args->data).x, args->batch_size));
  });
}

}  // namespace nnkit::cli
