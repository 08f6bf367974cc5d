#include "cli/cli.hpp"

#include <iostream>

#include "cli/options.hpp"
#include "core/log.hpp"

namespace troupe::cli {

namespace {

int main_impl(int argc, char** argv) {
  options opts;
  if (auto err = parse(argc, argv, opts))
    return usage_error(*err);
  if (opts.command.empty() || opts.command == "help") {
    std::cout << usage_text;
    return opts.command.empty() ? exit_usage : exit_ok;
  }
  if (opts.command == "version") {
    std::cout << "troupe " << TROUPE_VERSION << "\n";
    return exit_ok;
  }
  if (auto ok = log::set_level(opts.log_level.value_or("error")); !ok)
    return usage_error(ok.error().message);
  if (opts.command == "run")
    return run_command(opts);
  if (opts.command == "chat")
    return chat_command(opts);
  if (opts.command == "tools")
    return tools_command(opts);
  if (opts.command == "memory")
    return memory_command(opts);
  if (opts.command == "access")
    return access_command(opts);
  if (opts.command == "store")
    return store_command(opts);
  if (opts.command == "serve")
    return serve_command(opts);
  if (opts.command == "node")
    return node_command(opts);
  if (opts.command == "cluster")
    return cluster_command(opts);
  return usage_error("unknown command '" + opts.command + "'");
}

} // namespace

int main(int argc, char** argv) {
  // Nothing below should throw; if something does, say so in one line
  // instead of aborting with a core dump.
  try {
    return main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "troupe: internal error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "troupe: internal error\n";
  }
  return exit_task_failed;
}

} // namespace troupe::cli
