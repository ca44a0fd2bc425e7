// Metrics by Keras name, accumulated over an epoch's batches: update() once per batch,
// result() the value over every sample seen since reset() (weighted by batch size; rmse is
// the root of the accumulated mean squared error, not a mean of roots).
#pragma once

#include <memory>
#include <string>

#include "nnkit/tensor.h"

namespace nnkit {

class Metric {
 public:
  virtual ~Metric() = default;
  // The name History and the progress bar show: "accuracy", "mae", "mse", "rmse", ...
  virtual std::string name() const = 0;
  virtual void reset() = 0;
  // pred and target as the loss takes them (sparse labels for sparse accuracy).
  virtual void update(const Tensor& pred, const Tensor& target) = 0;
  virtual double result() const = 0;
};

// Names: accuracy (resolved from the loss as Keras does: binary_accuracy for
// binary_crossentropy or a single output, sparse_categorical_accuracy for
// sparse_categorical_crossentropy, categorical_accuracy otherwise; the name shown stays
// "accuracy"), binary_accuracy (threshold 0.5), categorical_accuracy,
// sparse_categorical_accuracy, mae, mse, rmse; also the long Keras names
// (mean_absolute_error, ...). `output_features` is the model's last-axis output size.
// Throws ValueError on an unknown name.
std::unique_ptr<Metric> make_metric(const std::string& name, const std::string& loss_name,
                                    int64_t output_features);

}  // namespace nnkit
