#pragma once

// The command line's options, their parsing and what every command shares:
// the engine config from files, variables and flags, and the exit codes.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/actor_system_config.hpp>

#include "config/config.hpp"
#include "core/faults.hpp"
#include "core/result.hpp"
#include "runtime/runtime.hpp"

namespace troupe::cli {

using runtime::exit_engine_down;
using runtime::exit_ok;
using runtime::exit_usage;
inline constexpr int exit_task_failed = runtime::exit_failed;

/// `troupe --help`.
extern const std::string_view usage_text;

/// What the command line said.
struct options {
  std::string command;
  std::vector<std::string> positional;
  bool json = false;
  std::optional<std::string> workspace;
  /// Config files, applied in order (a profile on top of the base).
  std::vector<std::string> configs;
  std::string tools;
  std::string session = "default";
  std::optional<std::string> log_level;
  std::string role;
  std::string listen;
  std::optional<std::string> seeds;
  std::optional<std::string> name;
  std::optional<uint32_t> max_steps;
  std::optional<std::string> provider;
  std::optional<std::string> model;
  std::optional<std::string> base_url;
  bool trace = false;
  std::vector<std::string> faults;
  std::optional<std::string> data_dir;
  std::string agent = "default";
  /// run, chat: the conversation thread to go on with (or start).
  std::optional<std::string> thread;
  std::optional<std::string> ns;
  std::optional<uint32_t> limit;
};

/// Prints "troupe: <msg> (see troupe --help)"; returns exit_usage.
int usage_error(const std::string& msg);

/// A whole number in 1..max, or nothing.
std::optional<uint32_t> parse_count(const std::string& s, uint32_t max);

/// Parses argv; on error returns the message.
std::optional<std::string> parse(int argc, char** argv, options& opts);

/// The actor system's config of a command without a network.
caf::actor_system_config make_config();

/// $XDG_DATA_HOME/troupe, else $HOME/.local/share/troupe.
result<std::filesystem::path> default_data_dir();

/// Parses `--fault ROLE:MODE:RATE`.
result<std::pair<std::string, fault_spec>> parse_fault(const std::string& s);

/// The process environment's TROUPE_* variables.
std::map<std::string, std::string> troupe_environment();

/// Defaults, then the config files (in order), then the environment
/// (TROUPE_*), then command-line flags.
result<engine_config> engine_config_from(const options& opts);

/// The engine config `opts` describe, with its log level in force; an
/// error is printed (the caller exits with exit_usage).
std::optional<engine_config> engine_config_for_run(const options& opts);

/// `cfg` if it loaded and is valid; else the first error.
result<engine_config> checked(result<engine_config> cfg);

/// One line from stdin, without its line end.
std::string read_stdin_line();

/// The commands, one file each (src/cli/<command>.cpp).
int run_command(const options& opts);
int tools_command(const options& opts);
int access_command(const options& opts);
int memory_command(const options& opts);
int node_command(const options& opts);
int cluster_command(const options& opts);
int chat_command(const options& opts);
int serve_command(const options& opts);
int store_command(const options& opts);

} // namespace troupe::cli
