// Per-column scalers for time series features and targets, fit on the training part only so
// that nothing from the validation rows leaks into training (timeseries.h says where they sit
// in the pipeline). Each column j has an offset and a scale:
//   transform:          x' = (x − offset[j]) / scale[j]
//   inverse_transform:  x  = x' · scale[j] + offset[j]
// none:     offset 0, scale 1 (identity; it still records the number of columns).
// standard: offset = mean, scale = population standard deviation (ddof 0), as scikit-learn's
//           StandardScaler.
// minmax:   offset = min, scale = max − min, mapping the fitted rows to [0, 1], as
//           scikit-learn's MinMaxScaler with feature_range (0, 1).
// A constant column (standard deviation or range exactly 0) gets scale 1, as scikit-learn
// does, so it transforms to 0 rather than to NaN. Statistics and both transforms are computed
// in double; parameters are kept as double and results rounded to float32.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "nnkit/tensor.h"

namespace nnkit {

enum class ScalerKind { kNone, kStandard, kMinMax };

// "none", "standard" or "minmax"; anything else is a ValueError.
ScalerKind parse_scaler_kind(const std::string& name);
std::string scaler_kind_name(ScalerKind kind);

class Scaler {
 public:
  explicit Scaler(ScalerKind kind = ScalerKind::kNone) : kind_(kind) {}

  // Fits one offset and scale per column on rows [0, rows) of values [R, C] (rank 2, C ≥ 1,
  // 1 ≤ rows ≤ R); rows from `rows` on are never read. Replaces any earlier fit. Throws
  // ShapeError on the rank, ValueError on `rows` out of range or a NaN or infinity in the
  // fitted rows (naming its 0-based row and column).
  void fit(const Tensor& values, int64_t rows);

  // values [..., C] with C = columns() (the last axis is the columns; any rank ≥ 1), to a
  // tensor of the same shape. Throws ValueError before fit, ShapeError on another C.
  Tensor transform(const Tensor& values) const;
  Tensor inverse_transform(const Tensor& values) const;

  // Every element of `values` (any shape) taken as a value of column `column`: for one target
  // column apart from the others. Throws ValueError before fit or on a column out of range.
  Tensor transform_column(const Tensor& values, int64_t column) const;
  Tensor inverse_transform_column(const Tensor& values, int64_t column) const;

  ScalerKind kind() const { return kind_; }
  // 0 until fit (or from_json).
  int64_t columns() const { return static_cast<int64_t>(offset_.size()); }
  bool fitted() const { return !offset_.empty(); }
  const std::vector<double>& offset() const { return offset_; }
  const std::vector<double>& scale() const { return scale_; }

  // {"kind": "standard", "offset": [...], "scale": [...]}: numbers that read back exactly.
  // Throws ValueError before fit.
  nlohmann::json to_json() const;
  // The inverse of to_json. Nothing is trusted: throws FormatError ("scaler: ...") unless the
  // value is an object with a known "kind" and "offset" and "scale" arrays of the same
  // nonzero length of finite numbers, every scale > 0, and for "none" offsets 0 and scales 1.
  static Scaler from_json(const nlohmann::json& json);

 private:
  ScalerKind kind_;
  std::vector<double> offset_;  // per column
  std::vector<double> scale_;   // per column, > 0
};

}  // namespace nnkit
