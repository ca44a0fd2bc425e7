// nnkit: build, train, evaluate and run neural networks from the command line.
// main() only parses arguments and reports errors; each subcommand lives in its own file.
#include <iostream>

#include "CLI/CLI.hpp"
#include "commands.h"
#include "nnkit/error.h"
#include "nnkit/kernels/threads.h"

int main(int argc, char** argv) {
  CLI::App app{"nnkit: neural networks on CPU — train, evaluate and run models from the command line"};
  app.require_subcommand(1);
  int threads = 0;
  app.add_option("--threads", threads, "Threads for the kernels (default: every core)")
      ->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&] { nnkit::set_num_threads(threads); });
  nnkit::cli::add_train_command(app);
  nnkit::cli::add_predict_command(app);
  nnkit::cli::add_evaluate_command(app);
  nnkit::cli::add_summary_command(app);
  nnkit::cli::add_demo_command(app);
  try {
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
  } catch (const nnkit::Error& e) {
    std::cerr << "nnkit: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "nnkit: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
