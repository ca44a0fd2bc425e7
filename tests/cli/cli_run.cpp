#include "cli/cli_run.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace nnkit::testing {

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

CommandResult run_nnkit(const std::string& args) {
  std::string dir = make_temp_dir("run");
  std::string out = dir + "/stdout", err = dir + "/stderr";
  std::string cmd =
      std::string(NNKIT_BINARY) + " " + args + " >" + out + " 2>" + err + " </dev/null";
  int raw = std::system(cmd.c_str());
  CommandResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  std::filesystem::remove_all(dir);
  return r;
}

std::string make_temp_dir(const std::string& name) {
  static int counter = 0;
  std::filesystem::path p =
      std::filesystem::temp_directory_path() /
      ("nnkit_test_" + std::to_string(::getpid()) + "_" + name + "_" + std::to_string(counter++));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

}  // namespace nnkit::testing
