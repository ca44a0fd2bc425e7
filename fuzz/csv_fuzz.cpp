// libFuzzer target: bytes read as a CSV time series (parse_csv), then, on what parses, every
// missing-cell policy (apply_missing) and the forecasting pipeline of data/forecast.h (training
// windows and scalers, the JSON of the preprocessing, prediction windows). An nnkit::Error is the
// right answer to bad bytes; anything else (a crash, a sanitizer report, another exception,
// which ends in std::terminate, a hang) is a finding, and so is a table that breaks csv.h's
// contract.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "nnkit/data/csv.h"
#include "nnkit/data/forecast.h"
#include "nnkit/error.h"

namespace {

using nnkit::CsvTable;
using nnkit::MissingPolicy;

void check_table(const CsvTable& table) {
  FUZZ_CHECK(table.rows() >= 1 && !table.columns.empty());
  const auto columns = static_cast<int64_t>(table.columns.size());
  FUZZ_CHECK(table.values.shape() == nnkit::Shape({table.rows(), columns}));
  FUZZ_CHECK(table.time.empty() ? !table.time_name.has_value()
                                : table.time.size() == table.lines.size());
  for (std::size_t r = 1; r < table.lines.size(); ++r) {
    FUZZ_CHECK(table.lines[r] > table.lines[r - 1]);
  }
  for (int64_t i = 0; i < table.values.size(); ++i) {
    FUZZ_CHECK(std::isnan(table.values.data()[i]) || std::isfinite(table.values.data()[i]));
  }
}

bool has_nan(const CsvTable& table) {
  for (int64_t i = 0; i < table.values.size(); ++i) {
    if (std::isnan(table.values.data()[i])) return true;
  }
  return false;
}

void check_policies(const CsvTable& table) {
  for (MissingPolicy policy : {MissingPolicy::kError, MissingPolicy::kDrop,
                               MissingPolicy::kForwardFill, MissingPolicy::kInterpolate}) {
    CsvTable copy = table;
    try {
      nnkit::apply_missing(copy, policy);
    } catch (const nnkit::Error&) {
      continue;
    }
    // Whatever the policy, no missing cell is left once it has succeeded.
    FUZZ_CHECK(!has_nan(copy));
    check_table(copy);
    if (policy != MissingPolicy::kDrop) FUZZ_CHECK(copy.rows() == table.rows());
  }
}

// Features: every column; target: the last; windows of 2 rows predicting the next. The
// interpolate policy, so that missing cells do not end it early.
void check_forecast(const CsvTable& table) {
  nnkit::ForecastPreprocess preprocess;
  preprocess.features = table.columns;
  preprocess.targets = {table.columns.back()};
  preprocess.window = 2;
  preprocess.horizon = 1;
  preprocess.missing = MissingPolicy::kInterpolate;
  preprocess.target_transform = nnkit::TargetTransform::kDelta;
  preprocess.feature_scaler = nnkit::Scaler(nnkit::ScalerKind::kStandard);
  preprocess.target_scaler = nnkit::Scaler(nnkit::ScalerKind::kMinMax);
  try {
    const nnkit::ForecastTrainingData data =
        nnkit::prepare_forecast_training(table, preprocess, 0.2);
    FUZZ_CHECK(data.x_train.shape().size() == 3 && data.y_train.shape().size() == 2);
    const nnkit::ForecastPreprocess again =
        nnkit::ForecastPreprocess::from_json(preprocess.to_json());
    FUZZ_CHECK(again.to_json() == preprocess.to_json());
    const nnkit::ForecastInputs inputs = nnkit::prepare_forecast_inputs(table, again);
    FUZZ_CHECK(inputs.end_rows.size() == inputs.target_rows.size());
  } catch (const nnkit::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    const CsvTable table = nnkit::parse_csv(bytes, "fuzz.csv");
    check_table(table);
    check_policies(table);
    check_forecast(table);
  } catch (const nnkit::Error&) {
  }
  return 0;
}
