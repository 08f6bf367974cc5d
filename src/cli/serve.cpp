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

/// `troupe serve`: flags over the config file over the defaults.
int serve_command(const options& opts) {
  if (!opts.positional.empty())
    return usage_error("serve takes no arguments, got '" + opts.positional[0] +
                       "'");
  auto load = [opts]() -> result<engine_config> {
    auto cfg = engine_config_from(opts);
    if (!cfg)
      return cfg;
    if (!opts.listen.empty())
      cfg->serve.listen = opts.listen;
    return cfg;
  };
  auto cfg = checked(load());
  if (!cfg) {
    std::cerr << "troupe: " << cfg.error().message << "\n";
    return exit_usage;
  }
  return daemon::serve({std::move(*cfg), load});
}

} // namespace troupe::cli
