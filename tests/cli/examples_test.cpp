// The example specs build into the models their README describes: Keras's parameter counts.
#include <gtest/gtest.h>

#include <string>

#include "cli/cli_run.h"

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;

struct ExampleSpec {
  const char* path;  // from the repository root
  const char* total_params;
};

class ExampleSpecs : public ::testing::TestWithParam<ExampleSpec> {};

TEST_P(ExampleSpecs, BuildWithTheDocumentedParameterCount) {
  const ExampleSpec& spec = GetParam();
  CliRun r = run_nnkit({"summary", "--spec", std::string(NNKIT_SOURCE_DIR) + "/" + spec.path});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(std::string("Total params: ") + spec.total_params + "\n"), std::string::npos)
      << r.out;
}

// 784·256 + 256 + 256·128 + 128 + 128·10 + 10; the CNN: 9·32 + 32, 9·32·64 + 64,
// 3136·128 + 128, 128·10 + 10; with BatchNormalization the convolutions and Dense 128 lose their
// biases and each normalisation adds 4 per channel or feature (2 of them running statistics).
INSTANTIATE_TEST_SUITE_P(FashionMnist, ExampleSpecs,
                         ::testing::Values(ExampleSpec{"examples/fashion_mnist/mlp.json", "235146"},
                                           ExampleSpec{"examples/fashion_mnist/cnn.json", "421642"},
                                           ExampleSpec{"examples/fashion_mnist/cnn_bn.json",
                                                       "422314"}));

}  // namespace
}  // namespace nnkit
