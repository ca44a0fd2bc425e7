// Running the nnkit binary from tests: exit status, stdout and stderr of one command.
#pragma once

#include <string>

namespace nnkit::testing {

struct CommandResult {
  int status = -1;  // the exit status, or -1 if the process did not exit normally
  std::string out, err;
};

// Runs `NNKIT_BINARY args` through the shell (args are pasted as given).
CommandResult run_nnkit(const std::string& args);

// A fresh, empty directory for one test.
std::string make_temp_dir(const std::string& name);

}  // namespace nnkit::testing
