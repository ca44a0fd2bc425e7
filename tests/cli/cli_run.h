// Running the nnkit binary from tests: the exit status, stdout and stderr of one command.
#pragma once

#include <string>
#include <vector>

namespace nnkit::testing {

struct CliRun {
  std::string command;
  int status = -1;  // the exit status; 128 + signal if killed; -1 if it could not run
  std::string out, err;

  // The whole run, for failure messages.
  std::string describe() const;
};

// Runs NNKIT_BINARY with `args` (each quoted for the shell), stdin from /dev/null. With
// timeout_seconds > 0 the run is killed after that long (status 137): for commands that could
// hang.
CliRun run_nnkit(const std::vector<std::string>& args, int timeout_seconds = 0);

}  // namespace nnkit::testing
