#include "cli/options.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <curl/curl.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/all.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/engine.hpp"
#include "actors/tool_executor.hpp"
#include "cluster/node.hpp"
#include "cli/render.hpp"
#include "core/codec.hpp"
#include "config/config.hpp"
#include "cluster/certs.hpp"
#include "cluster/network.hpp"
#include "runtime/runtime.hpp"
#include "daemon/serve.hpp"
#include "core/log.hpp"
#include "memory/long_term.hpp"
#include "memory/tools.hpp"

#include <spdlog/spdlog.h>


namespace troupe::cli {

/// `troupe access …`: API keys (read from stdin, so they never show in
/// the process list or the shell history).
int access_command(const options& opts) {
  if (opts.positional.size() != 1 ||
      (opts.positional[0] != "hash-key" && opts.positional[0] != "whoami"))
    return usage_error("access needs one subcommand: hash-key or whoami");
  auto key = read_stdin_line();
  if (key.size() < guardrail::min_api_key_size) {
    std::cerr << "troupe: an API key needs at least "
              << guardrail::min_api_key_size << " characters, got "
              << key.size() << "\n";
    return exit_usage;
  }
  if (opts.positional[0] == "hash-key") {
    std::cout << guardrail::api_key_digest(key) << "\n";
    return exit_ok;
  }
  auto cfg = checked(engine_config_from(opts));
  if (!cfg) {
    std::cerr << "troupe: " << cfg.error().message << "\n";
    return exit_usage;
  }
  guardrail::access_policy policy{cfg->access};
  auto principal = policy.principal_for_key(key);
  if (!principal) {
    std::cerr << "troupe: the key belongs to no principal\n";
    return exit_task_failed;
  }
  std::cout << *principal << "\t" << cfg->access.principals.at(*principal)
            << "\n";
  return exit_ok;
}

} // namespace troupe::cli
