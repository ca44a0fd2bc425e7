// nnkit: build, train, evaluate and run neural networks from the command line.
// main() only parses arguments and reports errors; each subcommand lives in its own file.
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "commands.h"
#include "nnkit/error.h"
#include "nnkit/kernels/threads.h"

namespace {

// CLI11 reports a missing required option before an unknown one, and "a subcommand is
// required" for a misspelt command; a user wants to hear about the typo first.
void check_names(CLI::App& app, int argc, char** argv) {
  int i = 1;
  while (i < argc && std::string(argv[i]).rfind("-", 0) == 0)
    i += std::string(argv[i]) == "--threads" ? 2 : 1;
  if (i >= argc) return;
  std::string command = argv[i];
  CLI::App* sub = nullptr;
  for (CLI::App* s : app.get_subcommands({})) {
    if (s->get_name() == command) sub = s;
  }
  if (sub == nullptr) {
    std::string names;
    for (const CLI::App* s : app.get_subcommands({}))
      names += (names.empty() ? "" : ", ") + s->get_name();
    throw nnkit::ValueError("unknown command '" + command + "'; expected one of " + names);
  }
  for (int j = i + 1; j < argc; ++j) {
    std::string arg = argv[j];
    if (arg.rfind("--", 0) != 0 || arg == "--help") continue;
    std::string name = arg.substr(0, arg.find('='));
    if (sub->get_option_no_throw(name) == nullptr) {
      throw nnkit::ValueError(command + ": unknown option '" + name + "' (see nnkit " + command +
                              " --help)");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "nnkit: neural networks on CPU — train, evaluate and run models from the command line"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Threads for the kernels (default: every core)")
      ->check(nnkit::cli::non_negative());
  app.parse_complete_callback([&] {
    nnkit::set_num_threads(threads);
    // This thread only: OpenMP's workers, started later by this thread, inherit the flag, and
    // no pool may exist yet when `bench` forks its children.
    nnkit::set_flush_denormals_on_this_thread(true);
  });
  nnkit::cli::add_train_command(app);
  nnkit::cli::add_predict_command(app);
  nnkit::cli::add_evaluate_command(app);
  nnkit::cli::add_summary_command(app);
  nnkit::cli::add_demo_command(app);
  nnkit::cli::add_bench_command(app);
  nnkit::cli::add_hopfield_command(app);
  nnkit::cli::add_gan_command(app);
  try {
    check_names(app, argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "nnkit: " << e.what() << " (see nnkit --help)\n";
    return 2;
  } catch (const nnkit::cli::Interrupted& e) {
    std::cerr << "nnkit: " << e.what() << "\n";
    return 130;
  } catch (const nnkit::Error& e) {
    std::cerr << "nnkit: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "nnkit: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
