#pragma once

// The aggregate config: the engine's settings, the cluster's and the
// daemon's, read from JSONC files, TROUPE_* variables and flags by the
// declarations each module makes of its own keys.

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "actors/settings.hpp"
#include "cluster/settings.hpp"
#include "core/endpoint.hpp"
#include "core/keys.hpp"
#include "core/result.hpp"
#include "http/settings.hpp"
#include "store/settings.hpp"

namespace troupe {

/// The whole config file (`config/troupe.json`): the engine's settings and
/// those of the process around it. An `engine_config` is an
/// `engine_settings`, so it starts an engine as it is.
struct engine_config : engine_settings {
  /// This node in a cluster.
  cluster::settings cluster;
  /// The daemon's settings.
  serve_config serve;
  /// Where the durable state lives.
  store::settings store;
  /// trace|debug|info|warn|error|critical|off; empty: the command line's
  /// (default error). `--log-level` wins over the file.
  std::string log_level;
};

/// The declarations of every key of the config file.
const keys<engine_config>& config_keys();

/// A JSON Schema of the config file, with each key's doc and default.
json config_schema();

/// Checks every field; the error names the key and the bad value. Pure.
result<bool> validate(const engine_config& cfg);

/// `validate`, then what the config needs of the world (`preflight`: the
/// workspace exists, API key variables are set).
result<bool> check(const engine_config& cfg);

/// Applies the JSON object `text` (the format of `config/troupe.json`) on
/// top of `cfg`. Unknown keys, wrong types and bad values are errors that
/// name the key; `cfg` is left untouched on error.
result<engine_config> apply_json(engine_config cfg, std::string_view text);

/// Applies the environment's TROUPE_* variables (`env`: name -> value):
/// TROUPE_API_KEYS ("principal:key,…", kept by digest only), and every
/// config key, named by its path in capitals with `_` between the parts
/// (TROUPE_SERVE_LISTEN, TROUPE_MAX_STEPS, TROUPE_MEMORY_DURABLE…); the
/// value is read as JSON if it is JSON (numbers, true/false, arrays), else
/// as a string. A name that matches no key, or a bad value, is an error
/// naming the variable; errors never show a secret. TROUPE_APPROVAL_KEY is
/// read where it is used.
result<engine_config>
apply_environment(engine_config cfg,
                  const std::map<std::string, std::string>& env);

/// Reads and applies a config file; errors name the file.
result<engine_config> load_file(engine_config cfg,
                                const std::filesystem::path& path);

} // namespace troupe
