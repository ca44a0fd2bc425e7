#include "cli/cli_run.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "scratch_dir.h"

namespace nnkit::testing {

namespace {

// Single-quoted for /bin/sh.
std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string CliRun::describe() const {
  return "command: " + command + "\nexit status: " + std::to_string(status) + "\nstdout: " + out +
         "\nstderr: " + err;
}

CliRun run_nnkit(const std::vector<std::string>& args, int timeout_seconds) {
  ScratchDir scratch;
  CliRun run;
  if (timeout_seconds > 0) run.command = "timeout -s KILL " + std::to_string(timeout_seconds) + " ";
  run.command += quote(NNKIT_BINARY);
  // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string&&.
  for (const auto& arg : args) {
    run.command += ' ';
    run.command += quote(arg);
  }
  const std::string out = scratch.file("stdout.txt");
  const std::string err = scratch.file("stderr.txt");
  std::string shell = run.command;
  shell += " <" + quote("/dev/null") + " >" + quote(out) + " 2>" + quote(err);
  const int raw = std::system(shell.c_str());
  if (raw != -1 && WIFEXITED(raw)) {
    run.status = WEXITSTATUS(raw);
  } else if (raw != -1 && WIFSIGNALED(raw)) {
    run.status = 128 + WTERMSIG(raw);
  }
  run.out = read_text(out);
  run.err = read_text(err);
  return run;
}

}  // namespace nnkit::testing
