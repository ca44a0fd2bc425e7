// Checkpoints through the command line: a run killed (SIGKILL) or interrupted (Ctrl-C) and
// continued with --resume ends with the model file of the run that never stopped, byte for byte;
// and the mistakes a user can make with them end with exit status 2 and one line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/cli_run.h"
#include "nnkit/data/npy.h"
#include "nnkit/io/atomic_file.h"
#include "nnkit/io/model_file.h"
#include "nnkit/random.h"
#include "scratch_dir.h"

extern char** environ;

namespace nnkit {
namespace {

using testing::CliRun;
using testing::run_nnkit;
namespace fs = std::filesystem;

class CheckpointCli : public ::testing::Test {
 protected:
  void SetUp() override {
    Rng rng(9);
    Tensor x({400, 6}), y({400, 1});
    for (int i = 0; i < 400; ++i) {
      for (int j = 0; j < 6; ++j) x[i * 6 + j] = rng.uniform(-1, 1);
      y[i] = std::sin(2.0f * x[i * 6]) + 0.3f * x[i * 6 + 1] * x[i * 6 + 2];
    }
    write_npy(path("x.npy"), x);
    write_npy(path("y.npy"), y);
    std::ofstream(path("spec.json")) << R"({"input_shape": [6],
      "layers": [{"type": "Dense", "units": 32, "activation": "tanh"}, {"type": "Dropout", "rate": 0.2},
                 {"type": "Dense", "units": 1}],
      "loss": "mse", "optimizer": {"type": "adam", "learning_rate": 0.003}, "seed": 4})";
  }
  std::string path(const std::string& name) const { return scratch_.file(name); }

  // The training flags of every run here: long enough to be stopped while it runs.
  std::vector<std::string> train_args(const std::string& out, int epochs) const {
    return {"train",
            "--spec",
            path("spec.json"),
            "--x",
            path("x.npy"),
            "--y",
            path("y.npy"),
            "--epochs",
            std::to_string(epochs),
            "--batch-size",
            "8",
            "--val-split",
            "0.25",
            "--early-stopping",
            "1000",
            "--log",
            path(out + ".csv"),
            "--quiet",
            "--out",
            path(out + ".safetensors")};
  }

  // Starts nnkit with `args`, waits until `file` exists, sends `signal`; returns the exit
  // status (128 + signal when killed by it), or -1 if the run ended before the signal.
  int run_until_then_signal(std::vector<std::string> args, const std::string& file, int signal) {
    std::vector<char*> argv{const_cast<char*>(NNKIT_BINARY)};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, path("spawn_out.txt").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, path("spawn_err.txt").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    const int spawned = posix_spawn(&pid, NNKIT_BINARY, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) return -2;
    int status = 0;
    while (!fs::exists(file)) {
      if (waitpid(pid, &status, WNOHANG) == pid) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(pid, signal);
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }

  testing::ScratchDir scratch_;
};

std::vector<std::string> with(std::vector<std::string> args, std::vector<std::string> more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST_F(CheckpointCli, KilledRunResumedEndsWithTheSameModelFile) {
  constexpr int kEpochs = 60;
  CliRun whole = run_nnkit((train_args("whole", kEpochs)));
  ASSERT_EQ(whole.status, 0) << whole.describe();

  const int status =
      run_until_then_signal(with(train_args("part", kEpochs), {"--checkpoint", path("ck")}),
                            path("ck/last.safetensors"), SIGKILL);
  ASSERT_EQ(status, 128 + SIGKILL)
      << "the run ended before it could be killed; give it more epochs";
  EXPECT_FALSE(fs::exists(path("part.safetensors")));
  EXPECT_FALSE(fs::exists(path("part.csv")));

  CliRun resumed = run_nnkit({"train", "--resume", path("ck"), "--quiet"});
  ASSERT_EQ(resumed.status, 0) << resumed.describe();
  EXPECT_EQ(read_file(path("part.safetensors")), read_file(path("whole.safetensors")));
  // The log has every epoch once, as the run that never stopped wrote it (times aside).
  auto without_times = [](const std::string& text) {
    std::string out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      out += line.substr(0, line.rfind(',')) + "\n";
    return out;
  };
  EXPECT_EQ(without_times(read_file(path("part.csv"))),
            without_times(read_file(path("whole.csv"))));
  EXPECT_FALSE(fs::exists(path("part.csv.tmp")));
  // best.safetensors is a model file of the best epoch.
  EXPECT_NO_THROW(load_model(path("ck/best.safetensors")));
}

TEST_F(CheckpointCli, CtrlCSavesACheckpointAndResumeEndsTheSame) {
  constexpr int kEpochs = 60;
  CliRun whole = run_nnkit((train_args("whole", kEpochs)));
  ASSERT_EQ(whole.status, 0) << whole.describe();

  // Without --checkpoint, Ctrl-C saves beside --out, in part.checkpoint/.
  const int status =
      run_until_then_signal(train_args("part", kEpochs), path("part.csv.tmp"), SIGINT);
  ASSERT_EQ(status, 130) << read_file(path("spawn_err.txt"));
  const std::string err = read_file(path("spawn_err.txt"));
  EXPECT_NE(err.find("interrupted: saved a checkpoint after batch"), std::string::npos) << err;
  EXPECT_NE(err.find("nnkit train --resume " + path("part.checkpoint")), std::string::npos) << err;
  EXPECT_TRUE(fs::exists(path("part.checkpoint/last.safetensors")));
  EXPECT_FALSE(fs::exists(path("part.safetensors")));
  EXPECT_FALSE(fs::exists(path("part.csv")));
  EXPECT_FALSE(fs::exists(path("part.csv.tmp")));

  CliRun resumed = run_nnkit({"train", "--resume", path("part.checkpoint"), "--quiet"});
  ASSERT_EQ(resumed.status, 0) << resumed.describe();
  EXPECT_EQ(read_file(path("part.safetensors")), read_file(path("whole.safetensors")));
}

TEST_F(CheckpointCli, MistakesEndWithStatus2AndOneLine) {
  auto expect_error = [](const CliRun& r, const std::string& needle) {
    EXPECT_EQ(r.status, 2) << r.describe();
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.describe();
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.describe();
  };
  expect_error(run_nnkit({"train", "--resume", path("nothing")}), "no checkpoint there");
  // A finished run with --checkpoint, then the mistakes.
  CliRun first = run_nnkit(with((train_args("m", 2)), {"--checkpoint", path("ck")}));
  ASSERT_EQ(first.status, 0) << first.describe();
  expect_error(run_nnkit(with((train_args("m2", 2)), {"--checkpoint", path("ck")})),
               "holds the checkpoint of an earlier run; continue it with --resume");
  expect_error(run_nnkit({"train", "--resume", path("ck"), "--lr", "0.1"}),
               "--lr: --resume " + path("ck") + " continues the run with the flags it began with");
  expect_error(run_nnkit(with((train_args("m3", 2)), {"--checkpoint", path("no/ck")})),
               "directory '" + path("no") + "' does not exist");
  // A model file is not a checkpoint.
  fs::create_directories(path("fake"));
  fs::copy_file(path("m.safetensors"), path("fake/last.safetensors"));
  expect_error(run_nnkit({"train", "--resume", path("fake")}), "not a checkpoint");
  // The data changed since the run began.
  const Tensor y = read_npy(path("y.npy"));
  Tensor changed = y;
  changed[0] += 1.0f;
  write_npy(path("y.npy"), changed);
  expect_error(run_nnkit({"train", "--resume", path("ck"), "--epochs", "4"}),
               "the training data differ from those the run began with");
  // With the data as they were, --epochs extends the finished run: 2 + 2 epochs as 4.
  write_npy(path("y.npy"), y);
  CliRun more = run_nnkit({"train", "--resume", path("ck"), "--epochs", "4", "--quiet"});
  ASSERT_EQ(more.status, 0) << more.describe();
  CliRun four = run_nnkit(train_args("m4", 4));
  ASSERT_EQ(four.status, 0) << four.describe();
  EXPECT_EQ(read_file(path("m.safetensors")), read_file(path("m4.safetensors")));
}

}  // namespace
}  // namespace nnkit
