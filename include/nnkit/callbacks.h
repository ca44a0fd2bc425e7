// Callbacks hook into Sequential::fit as Keras's do: at the start and end of training, of
// each epoch and after each batch. Logs map names ("loss", "mae", "val_loss", ...) to the
// values of the epoch (or, after a batch, the running values of the epoch so far).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nnkit/tensor.h"

namespace nnkit {

class Sequential;
using Logs = std::map<std::string, double>;

struct TrainInfo {
  int epochs = 0;
  int64_t steps_per_epoch = 0;
  int64_t samples = 0;
  std::vector<std::string> metric_names =
      {};  // "loss", then each metric; val_ ones when validating
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Sequential& /*model*/, const TrainInfo& /*info*/) {}
  virtual void on_epoch_begin(Sequential& /*model*/, int /*epoch*/) {}
  virtual void on_batch_end(Sequential& /*model*/, int64_t /*batch*/, const Logs& /*logs*/) {}
  virtual void on_epoch_end(Sequential& /*model*/, int /*epoch*/, const Logs& /*logs*/) {}
  virtual void on_train_end(Sequential& /*model*/, const Logs& /*logs*/) {}
};

// Stops training when `monitor` has not improved by more than min_delta for `patience`
// epochs. With restore_best_weights the model ends training with the weights of its best
// epoch (the seeds' "roll back to the best weights"), whether or not it stopped early.
struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int patience = 0;
  std::string mode = "auto";  // min, max, auto (max for names containing "acc")
  bool restore_best_weights = false;
};
class EarlyStopping final : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_train_begin(Sequential& model, const TrainInfo& info) override;
  void on_epoch_end(Sequential& model, int epoch, const Logs& logs) override;
  void on_train_end(Sequential& model, const Logs& logs) override;
  // The epoch (0-based) training stopped after, if it stopped early; the best epoch.
  std::optional<int> stopped_epoch() const { return stopped_epoch_; }
  int best_epoch() const { return best_epoch_; }
  double best_value() const { return best_; }

  // What it has seen so far, for checkpoints. After resume(state), the next fit() continues
  // from that state (a resumed run) instead of starting afresh.
  struct State {
    double best = 0;
    int best_epoch = -1;
    int wait = 0;
    std::vector<Tensor> best_weights = {};  // with restore_best_weights
  };
  State state() const { return {best_, best_epoch_, wait_, best_weights_}; }
  void resume(State state);

 private:
  bool improved(double value) const;
  std::optional<State> resumed_;
  EarlyStoppingOptions options_;
  bool maximize_ = false;
  double best_ = 0;
  int best_epoch_ = -1;
  int wait_ = 0;
  std::optional<int> stopped_epoch_;
  std::vector<Tensor> best_weights_;
};

// Stops training at the first batch whose loss is NaN or infinite.
class TerminateOnNaN final : public Callback {
 public:
  void on_batch_end(Sequential& model, int64_t batch, const Logs& logs) override;
};

// Multiplies the learning rate by `factor` when `monitor` has not improved for `patience`
// epochs, then waits `cooldown` epochs; never below min_lr.
struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  std::string mode = "auto";
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
};
class ReduceLROnPlateau final : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {});
  void on_train_begin(Sequential& model, const TrainInfo& info) override;
  void on_epoch_end(Sequential& model, int epoch, const Logs& logs) override;

 private:
  ReduceLROnPlateauOptions options_;
  bool maximize_ = false;
  double best_ = 0;
  int wait_ = 0;
  int cooldown_left_ = 0;
};

// Sets the learning rate at the start of each epoch to schedule(epoch, current rate).
class LearningRateScheduler final : public Callback {
 public:
  explicit LearningRateScheduler(std::function<double(int epoch, double lr)> schedule);
  void on_epoch_begin(Sequential& model, int epoch) override;

 private:
  std::function<double(int, double)> schedule_;
};

// Appends one row per epoch to a CSV file: epoch, then every log in TrainInfo order, then the
// epoch's wall time in seconds (validation included), as Keras's CSVLogger plus a time column.
struct CSVLoggerOptions {
  std::string filename = {};
  char separator = ',';
  bool append = false;
};
class CSVLogger final : public Callback {
 public:
  explicit CSVLogger(CSVLoggerOptions options);
  void on_train_begin(Sequential& model, const TrainInfo& info) override;
  void on_epoch_begin(Sequential& model, int epoch) override;
  void on_epoch_end(Sequential& model, int epoch, const Logs& logs) override;

 private:
  CSVLoggerOptions options_;
  std::vector<std::string> columns_;
  double epoch_start_ = 0;
};

// Keras's progress bar: "Epoch 3/10", then a bar of batches done with the ETA and the
// running loss and metrics, redrawn in place on a terminal; when the stream is not a
// terminal, one line per epoch only.
struct ProgressBarOptions {
  std::ostream* out = nullptr;           // default std::cout
  std::optional<bool> interactive = {};  // default: whether stdout is a terminal
  int width = 30;
};
class ProgressBar final : public Callback {
 public:
  explicit ProgressBar(ProgressBarOptions options = {});
  void on_train_begin(Sequential& model, const TrainInfo& info) override;
  void on_epoch_begin(Sequential& model, int epoch) override;
  void on_batch_end(Sequential& model, int64_t batch, const Logs& logs) override;
  void on_epoch_end(Sequential& model, int epoch, const Logs& logs) override;

 private:
  ProgressBarOptions options_;
  std::ostream* out_;
  bool interactive_ = false;
  TrainInfo info_;
  double epoch_start_ = 0;
  double last_draw_ = 0;
};

}  // namespace nnkit
