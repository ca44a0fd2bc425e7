#include "nnkit/data/scaler.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"
#include "nnkit/error.h"

namespace nnkit {

ScalerKind parse_scaler_kind(const std::string& name) {
  if (name == "none") return ScalerKind::kNone;
  if (name == "standard") return ScalerKind::kStandard;
  if (name == "minmax") return ScalerKind::kMinMax;
  throw ValueError(fmt::format("unknown scaler \"{}\"; expected none, standard or minmax", name));
}

std::string scaler_kind_name(ScalerKind kind) {
  switch (kind) {
    case ScalerKind::kNone:
      return "none";
    case ScalerKind::kStandard:
      return "standard";
    case ScalerKind::kMinMax:
      return "minmax";
  }
  return "none";
}

void Scaler::fit(const Tensor& values, int64_t rows) {
  if (values.rank() != 2) {
    throw ShapeError(fmt::format("scaler: fit expects values [rows, columns], got {}",
                                 shape_to_string(values.shape())));
  }
  const int64_t columns = values.dim(1);
  if (columns < 1) throw ValueError("scaler: fit needs at least one column");
  if (rows < 1 || rows > values.dim(0)) {
    throw ValueError(fmt::format("scaler: fit on {} rows of a tensor of {} rows (need 1 to {})",
                                 rows, values.dim(0), values.dim(0)));
  }
  const float* data = values.data();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < columns; ++c) {
      const float v = data[r * columns + c];
      if (!std::isfinite(v)) {
        throw ValueError(fmt::format("scaler: row {}, column {} is {} (0-based indices)", r, c,
                                     std::isnan(v) ? "NaN" : (v > 0 ? "inf" : "-inf")));
      }
    }
  }

  std::vector<double> offset(static_cast<std::size_t>(columns), 0.0);
  std::vector<double> scale(static_cast<std::size_t>(columns), 1.0);
  for (int64_t c = 0; c < columns; ++c) {
    const auto j = static_cast<std::size_t>(c);
    if (kind_ == ScalerKind::kStandard) {
      // Two passes in double: the mean, then the squared deviations from it, which stays
      // accurate where sum(x²) − n·mean² would cancel, and is exactly 0 for a constant column.
      double sum = 0.0;
      for (int64_t r = 0; r < rows; ++r) sum += data[r * columns + c];
      const double mean = sum / static_cast<double>(rows);
      double squares = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        const double d = data[r * columns + c] - mean;
        squares += d * d;
      }
      const double std_dev = std::sqrt(squares / static_cast<double>(rows));
      offset[j] = mean;
      scale[j] = std_dev > 0.0 ? std_dev : 1.0;
    } else if (kind_ == ScalerKind::kMinMax) {
      double lo = data[c];
      double hi = data[c];
      for (int64_t r = 1; r < rows; ++r) {
        lo = std::min(lo, static_cast<double>(data[r * columns + c]));
        hi = std::max(hi, static_cast<double>(data[r * columns + c]));
      }
      offset[j] = lo;
      scale[j] = hi > lo ? hi - lo : 1.0;
    }
  }
  offset_ = std::move(offset);
  scale_ = std::move(scale);
}

namespace {

void check_fitted(const Scaler& scaler, const char* what) {
  if (!scaler.fitted()) {
    throw ValueError(fmt::format("scaler: {} before fit", what));
  }
}

}  // namespace

namespace {

// out[..., j] = f(values[..., j], j) over the last axis, the columns; what names the caller.
template <typename F>
Tensor map_columns(const Scaler& scaler, const Tensor& values, const char* what, F f) {
  check_fitted(scaler, what);
  const int64_t c = scaler.columns();
  if (values.rank() < 1 || values.dim(-1) != c) {
    throw ShapeError(
        fmt::format("scaler: fitted on {} columns, got values {} (the last axis is the columns)", c,
                    shape_to_string(values.shape())));
  }
  Tensor out = Tensor::uninitialized(values.shape());
  for (int64_t i = 0; i < values.size(); ++i) {
    out[i] = static_cast<float>(f(static_cast<double>(values[i]), static_cast<std::size_t>(i % c)));
  }
  return out;
}

}  // namespace

Tensor Scaler::transform(const Tensor& values) const {
  return map_columns(*this, values, "transform",
                     [&](double v, std::size_t j) { return (v - offset_[j]) / scale_[j]; });
}

Tensor Scaler::inverse_transform(const Tensor& values) const {
  return map_columns(*this, values, "inverse_transform",
                     [&](double v, std::size_t j) { return v * scale_[j] + offset_[j]; });
}

namespace {

void check_column(const Scaler& scaler, int64_t column) {
  if (column < 0 || column >= scaler.columns()) {
    throw ValueError(fmt::format("scaler: column {} is out of range: fitted on {} columns", column,
                                 scaler.columns()));
  }
}

}  // namespace

Tensor Scaler::transform_column(const Tensor& values, int64_t column) const {
  check_fitted(*this, "transform_column");
  check_column(*this, column);
  const double offset = offset_[static_cast<std::size_t>(column)];
  const double scale = scale_[static_cast<std::size_t>(column)];
  Tensor out = Tensor::uninitialized(values.shape());
  for (int64_t i = 0; i < values.size(); ++i) {
    out[i] = static_cast<float>((static_cast<double>(values[i]) - offset) / scale);
  }
  return out;
}

Tensor Scaler::inverse_transform_column(const Tensor& values, int64_t column) const {
  check_fitted(*this, "inverse_transform_column");
  check_column(*this, column);
  const double offset = offset_[static_cast<std::size_t>(column)];
  const double scale = scale_[static_cast<std::size_t>(column)];
  Tensor out = Tensor::uninitialized(values.shape());
  for (int64_t i = 0; i < values.size(); ++i) {
    out[i] = static_cast<float>(static_cast<double>(values[i]) * scale + offset);
  }
  return out;
}

nlohmann::json Scaler::to_json() const {
  check_fitted(*this, "to_json");
  return nlohmann::json{{"kind", scaler_kind_name(kind_)}, {"offset", offset_}, {"scale", scale_}};
}

namespace {

std::vector<double> read_numbers(const nlohmann::json& json, const char* key) {
  if (!json.contains(key)) throw FormatError(fmt::format("scaler: missing \"{}\"", key));
  const nlohmann::json& array = json.at(key);
  if (!array.is_array()) {
    throw FormatError(
        fmt::format("scaler: \"{}\" must be an array of numbers, got {}", key, array.type_name()));
  }
  std::vector<double> out;
  out.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    const nlohmann::json& v = array[i];
    if (!v.is_number()) {
      throw FormatError(
          fmt::format("scaler: \"{}\"[{}] must be a number, got {}", key, i, v.type_name()));
    }
    const double d = v.get<double>();
    if (!std::isfinite(d)) {
      throw FormatError(fmt::format("scaler: \"{}\"[{}] is not finite", key, i));
    }
    out.push_back(d);
  }
  return out;
}

}  // namespace

Scaler Scaler::from_json(const nlohmann::json& json) {
  if (!json.is_object()) {
    throw FormatError(fmt::format("scaler: expected a JSON object, got {}", json.type_name()));
  }
  if (!json.contains("kind") || !json.at("kind").is_string()) {
    throw FormatError("scaler: \"kind\" must be a string: none, standard or minmax");
  }
  const std::string name = json.at("kind").get<std::string>();
  ScalerKind kind;
  try {
    kind = parse_scaler_kind(name);
  } catch (const ValueError&) {
    throw FormatError(
        fmt::format("scaler: unknown kind \"{}\"; expected none, standard or minmax", name));
  }
  std::vector<double> offset = read_numbers(json, "offset");
  std::vector<double> scale = read_numbers(json, "scale");
  if (offset.size() != scale.size()) {
    throw FormatError(
        fmt::format("scaler: {} offsets but {} scales; expected one of each per "
                    "column",
                    offset.size(), scale.size()));
  }
  if (offset.empty()) throw FormatError("scaler: no columns (\"offset\" and \"scale\" are empty)");
  for (std::size_t j = 0; j < scale.size(); ++j) {
    if (!(scale[j] > 0.0)) {
      throw FormatError(
          fmt::format("scaler: \"scale\"[{}] is {}; scales must be positive", j, scale[j]));
    }
    if (kind == ScalerKind::kNone && (offset[j] != 0.0 || scale[j] != 1.0)) {
      throw FormatError(fmt::format(
          "scaler: kind none with offset {} and scale {} in column {}; expected 0 and 1", offset[j],
          scale[j], j));
    }
  }
  Scaler scaler(kind);
  scaler.offset_ = std::move(offset);
  scaler.scale_ = std::move(scale);
  return scaler;
}

}  // namespace nnkit
