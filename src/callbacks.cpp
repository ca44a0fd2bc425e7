#include "nnkit/callbacks.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "fmt/format.h"
#include "nnkit/error.h"
#include "nnkit/model.h"

namespace nnkit {

namespace {

bool resolve_maximize(const std::string& mode, const std::string& monitor, const char* who) {
  if (mode == "min") return false;
  if (mode == "max") return true;
  if (mode == "auto") return monitor.find("acc") != std::string::npos;
  throw ValueError(fmt::format("{}: mode must be min, max or auto, got '{}'", who, mode));
}

double monitored(const Logs& logs, const std::string& monitor, const char* who) {
  auto it = logs.find(monitor);
  if (it == logs.end()) {
    std::string available;
    for (const auto& [name, value] : logs) available += (available.empty() ? "" : ", ") + name;
    throw ValueError(
        fmt::format("{}: monitor '{}' is not among the epoch's values ({}); give validation data "
                    "or monitor 'loss'",
                    who, monitor, available));
  }
  return it->second;
}

double seconds_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string format_duration(double seconds) {
  if (seconds >= 3600)
    return fmt::format("{}:{:02}:{:02}", int(seconds) / 3600, int(seconds) / 60 % 60,
                       int(seconds) % 60);
  if (seconds >= 60) return fmt::format("{}:{:02}", int(seconds) / 60, int(seconds) % 60);
  return fmt::format("{}s", int(std::lround(seconds)));
}

std::string format_logs(const TrainInfo& info, const Logs& logs, bool with_val) {
  std::string out;
  for (const auto& name : info.metric_names) {
    if (!with_val && name.rfind("val_", 0) == 0) continue;
    auto it = logs.find(name);
    if (it != logs.end()) out += fmt::format(" - {}: {:.4f}", name, it->second);
  }
  return out;
}

}  // namespace

// EarlyStopping ---------------------------------------------------------------------------

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : options_(std::move(options)) {
  maximize_ = resolve_maximize(options_.mode, options_.monitor, "EarlyStopping");
  if (options_.patience < 0) throw ValueError("EarlyStopping: patience must be >= 0");
}

bool EarlyStopping::improved(double value) const {
  if (best_epoch_ < 0) return std::isfinite(value);
  return maximize_ ? value > best_ + std::fabs(options_.min_delta)
                   : value < best_ - std::fabs(options_.min_delta);
}

void EarlyStopping::resume(State state) { resumed_ = std::move(state); }

void EarlyStopping::on_train_begin(Sequential& /*model*/, const TrainInfo& /*info*/) {
  State state = resumed_ ? std::move(*resumed_) : State{};
  resumed_.reset();
  best_ = state.best;
  best_epoch_ = state.best_epoch;
  wait_ = state.wait;
  best_weights_ = std::move(state.best_weights);
  stopped_epoch_.reset();
}

void EarlyStopping::on_epoch_end(Sequential& model, int epoch, const Logs& logs) {
  double value = monitored(logs, options_.monitor, "EarlyStopping");
  if (improved(value)) {
    best_ = value;
    best_epoch_ = epoch;
    wait_ = 0;
    if (options_.restore_best_weights) best_weights_ = model.get_weights();
    return;
  }
  if (++wait_ >= options_.patience) {
    stopped_epoch_ = epoch;
    model.stop_training = true;
  }
}

void EarlyStopping::on_train_end(Sequential& model, const Logs& /*logs*/) {
  if (options_.restore_best_weights && !best_weights_.empty()) model.set_weights(best_weights_);
}

// TerminateOnNaN --------------------------------------------------------------------------

void TerminateOnNaN::on_batch_end(Sequential& model, int64_t /*batch*/, const Logs& logs) {
  auto it = logs.find("loss");
  if (it != logs.end() && !std::isfinite(it->second)) model.stop_training = true;
}

// ReduceLROnPlateau -----------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(ReduceLROnPlateauOptions options)
    : options_(std::move(options)) {
  maximize_ = resolve_maximize(options_.mode, options_.monitor, "ReduceLROnPlateau");
  if (!(options_.factor > 0.0 && options_.factor < 1.0)) {
    throw ValueError(
        fmt::format("ReduceLROnPlateau: factor must be in (0, 1), got {}", options_.factor));
  }
}

void ReduceLROnPlateau::on_train_begin(Sequential& /*model*/, const TrainInfo& /*info*/) {
  best_ = maximize_ ? -INFINITY : INFINITY;
  wait_ = 0;
  cooldown_left_ = 0;
}

void ReduceLROnPlateau::on_epoch_end(Sequential& model, int /*epoch*/, const Logs& logs) {
  double value = monitored(logs, options_.monitor, "ReduceLROnPlateau");
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    wait_ = 0;
  }
  bool better = maximize_ ? value > best_ + options_.min_delta : value < best_ - options_.min_delta;
  if (better) {
    best_ = value;
    wait_ = 0;
    return;
  }
  if (cooldown_left_ > 0) return;
  if (++wait_ >= options_.patience) {
    Optimizer* opt = model.optimizer();
    double lr = opt->learning_rate();
    double reduced = std::max(lr * options_.factor, options_.min_lr);
    if (reduced < lr) opt->set_learning_rate(static_cast<float>(reduced));
    cooldown_left_ = options_.cooldown;
    wait_ = 0;
  }
}

// LearningRateScheduler -------------------------------------------------------------------

LearningRateScheduler::LearningRateScheduler(std::function<double(int, double)> schedule)
    : schedule_(std::move(schedule)) {}

void LearningRateScheduler::on_epoch_begin(Sequential& model, int epoch) {
  Optimizer* opt = model.optimizer();
  double lr = schedule_(epoch, opt->learning_rate());
  if (!(lr >= 0.0) || !std::isfinite(lr)) {
    throw ValueError(
        fmt::format("LearningRateScheduler: the schedule gave {} for epoch {}", lr, epoch));
  }
  opt->set_learning_rate(static_cast<float>(lr));
}

// CSVLogger -------------------------------------------------------------------------------

CSVLogger::CSVLogger(CSVLoggerOptions options) : options_(std::move(options)) {
  if (options_.filename.empty()) throw ValueError("CSVLogger: filename is empty");
}

void CSVLogger::on_train_begin(Sequential& /*model*/, const TrainInfo& info) {
  columns_ = info.metric_names;
  bool write_header = true;
  if (options_.append) {
    std::ifstream existing(options_.filename);
    write_header = !existing.good() || existing.peek() == std::ifstream::traits_type::eof();
  }
  std::ofstream out(options_.filename, options_.append ? std::ios::app : std::ios::trunc);
  if (!out)
    throw IoError(fmt::format("CSVLogger: cannot open '{}' for writing", options_.filename));
  if (write_header) {
    out << "epoch";
    for (const auto& c : columns_) out << options_.separator << c;
    out << options_.separator << "seconds\n";
  }
}

void CSVLogger::on_epoch_begin(Sequential& /*model*/, int /*epoch*/) {
  epoch_start_ = seconds_now();
}

void CSVLogger::on_epoch_end(Sequential& /*model*/, int epoch, const Logs& logs) {
  double seconds = seconds_now() - epoch_start_;
  // Opened per epoch so that every finished epoch is on disk even if the run is killed.
  std::ofstream out(options_.filename, std::ios::app);
  if (!out) throw IoError(fmt::format("CSVLogger: cannot write '{}'", options_.filename));
  out << epoch;
  for (const auto& c : columns_) {
    auto it = logs.find(c);
    out << options_.separator;
    if (it != logs.end()) out << fmt::format("{:.9g}", it->second);
  }
  out << options_.separator << fmt::format("{:.4f}", seconds) << '\n';
}

// ProgressBar -----------------------------------------------------------------------------

ProgressBar::ProgressBar(ProgressBarOptions options) : options_(options) {
  out_ = options_.out != nullptr ? options_.out : &std::cout;
  interactive_ = options_.interactive.value_or(isatty(fileno(stdout)) != 0);
}

void ProgressBar::on_train_begin(Sequential& /*model*/, const TrainInfo& info) { info_ = info; }

void ProgressBar::on_epoch_begin(Sequential& /*model*/, int epoch) {
  epoch_start_ = seconds_now();
  last_draw_ = 0;
  if (interactive_) *out_ << fmt::format("Epoch {}/{}\n", epoch + 1, info_.epochs) << std::flush;
}

void ProgressBar::on_batch_end(Sequential& /*model*/, int64_t batch, const Logs& logs) {
  if (!interactive_) return;
  double now = seconds_now();
  int64_t done = batch + 1;
  // Redraw at most 20 times a second; always draw the last batch.
  if (done < info_.steps_per_epoch && now - last_draw_ < 0.05) return;
  last_draw_ = now;
  int64_t total = std::max<int64_t>(info_.steps_per_epoch, 1);
  int filled = static_cast<int>(options_.width * done / total);
  std::string bar(static_cast<std::size_t>(filled), '=');
  if (filled < options_.width) bar += '>';
  bar.resize(static_cast<std::size_t>(options_.width), '.');
  double elapsed = now - epoch_start_;
  double eta = elapsed / static_cast<double>(done) * static_cast<double>(total - done);
  int digits = static_cast<int>(std::to_string(total).size());
  *out_ << fmt::format("\r{:>{}}/{} [{}] - ETA: {}{}\033[K", done, digits, total, bar,
                       format_duration(eta), format_logs(info_, logs, false))
        << std::flush;
}

void ProgressBar::on_epoch_end(Sequential& /*model*/, int epoch, const Logs& logs) {
  double elapsed = seconds_now() - epoch_start_;
  int64_t steps = std::max<int64_t>(info_.steps_per_epoch, 1);
  double per_step = elapsed / static_cast<double>(steps);
  std::string speed = per_step >= 1.0    ? fmt::format("{:.0f}s/step", per_step)
                      : per_step >= 1e-3 ? fmt::format("{:.0f}ms/step", per_step * 1e3)
                                         : fmt::format("{:.0f}us/step", per_step * 1e6);
  std::string stats =
      fmt::format("{} {}{}", format_duration(elapsed), speed, format_logs(info_, logs, true));
  if (interactive_) {
    std::string bar(static_cast<std::size_t>(options_.width), '=');
    *out_ << fmt::format("\r{}/{} [{}] - {}\033[K\n", steps, steps, bar, stats);
  } else {
    *out_ << fmt::format("Epoch {}/{} - {}\n", epoch + 1, info_.epochs, stats);
  }
  out_->flush();
}

}  // namespace nnkit
