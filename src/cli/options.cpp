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

const std::string_view usage_text =
  R"(troupe — an agent engine on the actor model

Usage:
  troupe run [options] "<task>"     run one task and print its answer
                                    ("-" reads the task from stdin;
                                    --thread ID: one turn of a thread)
  troupe chat [--agent A] [--thread ID]
                                    a conversation in the terminal: a
                                    prompt, streamed answers, /exit
  troupe tools [list] [--json]      list the tools the model can call (built-in,
                                    MCP servers', memory's) with their schemas
  troupe tools call NAME [JSON]     call one tool as the command line would
  troupe cluster status HOST:PORT [--json]
                                    the cluster as a daemon sees it: nodes,
                                    roles, state, load, round trips
  troupe cluster gen-certs DIR [NODE...]
                                    write a test cluster CA and node
                                    certificates (for cluster.tls)
  troupe memory search "<query>" [--limit N]
                                    ranked long-term recall (as --agent)
  troupe memory stats [--json]      memories per namespace, file size
  troupe memory export              all memories as JSON lines on stdout
                                    (--namespace NS: one namespace)
  troupe memory import FILE|-       add memories from JSON lines
  troupe memory compact             drop expired and over-cap memories
  troupe store [show] [--json]      the store: backend, schema version,
                                    tasks, threads, size on disk
  troupe store migrate              create or migrate the store's tables
  troupe store prune [--json]       remove finished tasks past
                                    store.retention now
  troupe serve [--config FILE] [--listen HOST:PORT]
                                    the daemon: HTTP API, /health, /ready,
                                    /metrics (see docs/http-api.md);
                                    SIGHUP reloads, SIGTERM drains
  troupe access hash-key            read an API key on stdin, print the
                                    SHA-256 digest for access.api_keys
  troupe access whoami              read an API key on stdin, print its
                                    principal and role (config + env)
  troupe node --listen HOST:PORT [--roles R,R] [--seeds HOST:PORT,…]
                                    a cluster node serving its roles
                                    (planner, memory, tools; default: all)
                                    to the others; needs
                                    $TROUPE_APPROVAL_KEY (64 hex digits,
                                    the same on every node)
  troupe --help | --version

Options (put "--" before a task that starts with "-"):
  --json               machine-readable output (run: the result with its steps)
  --config FILE        engine settings (JSON; see config/troupe.json); flags
                       given on the command line override the file
  --workspace DIR      root the file tool is confined to (default: .)
  --data-dir DIR       where long-term memory lives (default:
                       $XDG_DATA_HOME/troupe, else ~/.local/share/troupe)
  --agent NAME         run: the agent to run as (one of agents.<name> in the
                       config, or default); memory: the namespace
                       "cli/<agent>" to use (default: default)
  --namespace NS       memory: a namespace, "<principal>/<agent>"
  --thread ID          run, chat: the conversation thread (in the data
                       directory's tasks.db, principal "cli") to go on
                       with, created if it is not there
  --tools HOST:PORT[,HOST:PORT…]
                       run: join the cluster of these nodes and run the
                       tools on the nodes that offer them (--seeds with
                       tools left out of --roles)
  --seeds HOST:PORT[,HOST:PORT…]
                       run, serve, node: nodes to join (cluster.seeds)
  --roles R[,R…]       run, serve, node: the roles this node runs
                       (cluster.roles: api, planner, memory, tools); the
                       others are asked of the nodes that offer them
  --name NAME          node: its name in the cluster (cluster.name)
  --session NAME       run: memory session (default: default)
  --max-steps N        run: agent-loop step limit (default: 8)
  --provider KIND      the model: offline (default), openai (any OpenAI-
                       compatible API) or anthropic; the key comes from
                       $OPENAI_API_KEY / $ANTHROPIC_API_KEY (or the variable
                       named by provider.api_key_env)
  --model M            the model's name, e.g. gpt-4o-mini
  --base-url URL       the API's base URL (default: the vendor's), e.g.
                       http://127.0.0.1:11434/v1 for Ollama
  --trace              run: after the task, show the supervision tree (each
                       role's state, restarts and last exit) on stderr, or
                       under "supervision" with --json
  --fault ROLE:MODE:RATE
                       run: inject faults for a drill: ROLE is memory,
                       guardrail, planner, provider, provider.N or tools;
                       MODE is crash, exit or stall; RATE the fraction of
                       the role's messages (0..1); may be repeated
  --log-level LEVEL    trace|debug|info|warn|error|critical|off (default: error);
                       logs are JSON lines on stderr

Exit codes: 0 success, 1 the task failed or was rejected, 2 bad usage or
config, 3 the engine stopped (a supervisor gave up past its restart limit).
)";

int usage_error(const std::string& msg) {
  std::cerr << "troupe: " << msg << " (see troupe --help)\n";
  return exit_usage;
}

/// A whole number in 1..max, or nothing.
std::optional<uint32_t> parse_count(const std::string& s, uint32_t max) {
  try {
    size_t used = 0;
    auto n = std::stoul(s, &used);
    if (used != s.size() || n == 0 || n > max)
      return std::nullopt;
    return static_cast<uint32_t>(n);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

/// Parses argv; on error returns the message.
std::optional<std::string> parse(int argc, char** argv, options& opts) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    auto a = args[i];
    if (options_done || a == "--") {
      // After "--" everything is text, so a task may start with "-".
      if (options_done) {
        if (opts.command.empty())
          opts.command = std::string{a};
        else
          opts.positional.emplace_back(a);
      }
      options_done = true;
      continue;
    }
    auto value = [&](std::string& out) -> std::optional<std::string> {
      if (i + 1 >= args.size())
        return "option " + std::string{a} + " needs a value";
      out = std::string{args[++i]};
      return std::nullopt;
    };
    std::optional<std::string> err;
    if (a == "--json") {
      opts.json = true;
    } else if (a == "--data-dir") {
      std::string dir;
      err = value(dir);
      opts.data_dir = dir;
    } else if (a == "--agent") {
      err = value(opts.agent);
    } else if (a == "--thread") {
      std::string t;
      err = value(t);
      opts.thread = t;
    } else if (a == "--namespace") {
      std::string ns;
      err = value(ns);
      opts.ns = ns;
    } else if (a == "--limit") {
      std::string s;
      err = value(s);
      if (!err) {
        auto n = parse_count(s, 50);
        if (!n)
          err = "--limit must be a number in 1..50, got '" + s + "'";
        else
          opts.limit = *n;
      }
    } else if (a == "--trace") {
      opts.trace = true;
    } else if (a == "--fault") {
      std::string f;
      err = value(f);
      opts.faults.push_back(std::move(f));
    } else if (a == "--workspace") {
      std::string dir;
      err = value(dir);
      opts.workspace = dir;
    } else if (a == "--config") {
      err = value(opts.configs.emplace_back());
    } else if (a == "--tools") {
      err = value(opts.tools);
    } else if (a == "--session") {
      err = value(opts.session);
    } else if (a == "--log-level") {
      opts.log_level.emplace();
      err = value(*opts.log_level);
    } else if (a == "--role" || a == "--roles") {
      err = value(opts.role);
    } else if (a == "--seeds") {
      err = value(opts.seeds.emplace());
    } else if (a == "--name") {
      err = value(opts.name.emplace());
    } else if (a == "--listen") {
      err = value(opts.listen);
    } else if (a == "--provider") {
      err = value(opts.provider.emplace());
    } else if (a == "--model") {
      err = value(opts.model.emplace());
    } else if (a == "--base-url") {
      err = value(opts.base_url.emplace());
    } else if (a == "--max-steps") {
      std::string s;
      err = value(s);
      if (!err) {
        auto n = parse_count(s, 1000);
        if (!n)
          err = "--max-steps must be a number in 1..1000, got '" + s + "'";
        else
          opts.max_steps = *n;
      }
    } else if (a == "--help" || a == "-h") {
      opts.command = "help";
    } else if (a == "--version") {
      opts.command = "version";
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      err = "unknown option '" + std::string{a} + "'";
    } else if (opts.command.empty()) {
      opts.command = std::string{a};
    } else {
      opts.positional.emplace_back(a);
    }
    if (err)
      return err;
  }
  return std::nullopt;
}

/// The actor system's config of a command without a network.
caf::actor_system_config make_config() {
  caf::actor_system_config cfg;
  register_types(cfg);
  return cfg;
}

/// $XDG_DATA_HOME/troupe, else $HOME/.local/share/troupe.
result<std::filesystem::path> default_data_dir() {
  auto env = [](const char* name) -> std::string {
    auto v = std::getenv(name);
    return v ? v : "";
  };
  // The XDG spec ignores relative paths.
  if (auto xdg = env("XDG_DATA_HOME"); !xdg.empty() && xdg[0] == '/')
    return std::filesystem::path{xdg} / "troupe";
  if (auto home = env("HOME"); !home.empty())
    return std::filesystem::path{home} / ".local" / "share" / "troupe";
  return failure{errc::invalid_config,
                 "no data directory: set --data-dir, data_dir in the config, "
                 "XDG_DATA_HOME or HOME"};
}

/// Parses `--fault ROLE:MODE:RATE`.
result<std::pair<std::string, fault_spec>> parse_fault(const std::string& s) {
  auto bad = [&](const std::string& why) {
    return failure{errc::invalid_config,
                   "--fault expects ROLE:MODE:RATE (e.g. planner:crash:0.01), "
                   "got '" +
                     s + "': " + why};
  };
  auto a = s.find(':');
  auto b = a == std::string::npos ? a : s.find(':', a + 1);
  if (b == std::string::npos)
    return bad("missing ':'");
  auto role = s.substr(0, a);
  auto mode = s.substr(a + 1, b - a - 1);
  auto rate = s.substr(b + 1);
  if (!is_fault_role(role))
    return bad("unknown role '" + role + "'");
  fault_spec f;
  if (!from_string(mode, f.mode))
    return bad("MODE must be crash, exit or stall");
  try {
    size_t used = 0;
    f.rate = std::stod(rate, &used);
    if (used != rate.size() || !(f.rate > 0 && f.rate <= 1))
      throw std::out_of_range{rate};
  } catch (const std::exception&) {
    return bad("RATE must be a number in (0, 1]");
  }
  return std::pair{role, f};
}

/// The process environment's TROUPE_* variables.
std::map<std::string, std::string> troupe_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv{*e};
    auto eq = kv.find('=');
    if (eq != std::string_view::npos && kv.rfind("TROUPE_", 0) == 0)
      out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

/// Defaults, then the config files (in order), then the environment
/// (TROUPE_*), then command-line flags.
result<engine_config> engine_config_from(const options& opts) {
  engine_config cfg;
  for (auto& file : opts.configs) {
    auto loaded = load_file(cfg, file);
    if (!loaded)
      return loaded.error();
    cfg = std::move(*loaded);
  }
  auto env = apply_environment(std::move(cfg), troupe_environment());
  if (!env)
    return env.error();
  cfg = std::move(*env);
  if (opts.log_level)
    cfg.log_level = *opts.log_level;
  if (opts.workspace)
    cfg.workspace = *opts.workspace;
  // The command line keeps memory on disk: --data-dir, else the config's
  // data_dir, else the XDG default.
  if (opts.data_dir) {
    cfg.data_dir = *opts.data_dir;
  } else if (cfg.data_dir.empty()) {
    auto dir = default_data_dir();
    if (!dir)
      return dir.error();
    cfg.data_dir = *dir;
  }
  if (opts.max_steps)
    cfg.max_steps = *opts.max_steps;
  if (opts.provider)
    cfg.provider.kind = *opts.provider;
  if (opts.model)
    cfg.provider.model = *opts.model;
  if (opts.base_url)
    cfg.provider.base_url = *opts.base_url;
  // Cluster flags: --seeds, --roles, --name; `run --tools A,B` is seeds
  // with the tools role left to them.
  if (opts.seeds)
    cfg.cluster.seeds = split_list(*opts.seeds);
  if (!opts.tools.empty()) {
    cfg.cluster.seeds = split_list(opts.tools);
    std::erase(cfg.cluster.roles, std::string{"tools"});
  }
  if (!opts.role.empty())
    cfg.cluster.roles = split_list(opts.role);
  if (opts.name)
    cfg.cluster.name = *opts.name;
  for (auto& f : opts.faults) {
    auto parsed = parse_fault(f);
    if (!parsed)
      return parsed.error();
    cfg.faults[parsed->first] = parsed->second;
  }
  if (auto ok = check(cfg); !ok)
    return ok.error();
  return cfg;
}

/// The engine config `opts` describe, with its log level in force; an
/// error is printed (the caller exits with exit_usage).
std::optional<engine_config> engine_config_for_run(const options& opts) {
  auto loaded = engine_config_from(opts);
  if (!loaded) {
    std::cerr << "troupe: " << loaded.error().message << "\n";
    return std::nullopt;
  }
  if (!loaded->log_level.empty())
    log::set_level(loaded->log_level);
  return std::move(*loaded);
}

/// `cfg` if it loaded and is valid; else the first error.
result<engine_config> checked(result<engine_config> cfg) {
  if (cfg)
    if (auto ok = check(*cfg); !ok)
      return ok.error();
  return cfg;
}

/// One line from stdin, without its line end.
std::string read_stdin_line() {
  std::string line;
  std::getline(std::cin, line);
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  return line;
}

} // namespace troupe::cli
