#include "cli/cli.hpp"

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

namespace {

using runtime::exit_engine_down;
using runtime::exit_ok;
using runtime::exit_usage;
constexpr int exit_task_failed = runtime::exit_failed;

constexpr std::string_view usage_text =
  R"(troupe — an agent engine on the actor model

Usage:
  troupe run [options] "<task>"     run one task and print its answer
                                    ("-" reads the task from stdin)
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
  troupe serve [--config FILE] [--listen HOST:PORT]
                                    the daemon: HTTP API, /health, /ready,
                                    /metrics (see README "The daemon");
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
  --agent NAME         run, memory: the agent whose memory to use (default:
                       default); memories belong to "cli/<agent>"
  --namespace NS       memory: a namespace, "<principal>/<agent>"
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
  std::optional<std::string> ns;
  std::optional<uint32_t> limit;
};

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

int run_task(const options& opts) {
  if (opts.positional.size() != 1)
    return usage_error("run takes exactly one task text, got " +
                       std::to_string(opts.positional.size()));
  auto loaded = engine_config_for_run(opts);
  if (!loaded)
    return exit_usage;
  auto& ecfg = *loaded;
  auto text = opts.positional[0];
  if (text == "-") {
    // Read at most one byte more than the guardrail accepts: enough for it
    // to reject an oversized input by its size, never a silent truncation.
    auto cap = ecfg.guardrail.max_input_bytes + 1;
    text.clear();
    char buf[4096];
    while (text.size() < cap &&
           (std::cin.read(buf, static_cast<std::streamsize>(
                                 std::min(sizeof(buf), cap - text.size()))) ||
            std::cin.gcount() > 0))
      text.append(buf, static_cast<size_t>(std::cin.gcount()));
  }
  runtime::app_spec spec;
  spec.key_unclustered = true;
  spec.key_missing = "--tools and --seeds need TROUPE_APPROVAL_KEY (64 hex "
                     "digits, the same on every node): tool nodes run only "
                     "calls the guardrail signed with it (see troupe --help)";
  // One task: wait (bounded) for a node offering each missing role.
  spec.wait = runtime::route_wait::required;
  spec.node_failed_exit = exit_usage;
  auto started = runtime::app::start(ecfg, spec);
  if (auto code = std::get_if<int>(&started))
    return *code;
  auto& app = *std::get<std::unique_ptr<runtime::app>>(started);
  auto& sys = app.system();
  auto* eng = &app.engine();
  task_request req{0, opts.session, "cli", std::move(text), opts.agent};
  // The runner answers by its task deadline; the margin covers the hops.
  auto deadline = ecfg.timeouts.task + std::chrono::seconds{5};
  std::optional<task_result> result;
  caf::error err;
  {
    caf::scoped_actor self{sys};
    self->request(eng->tasks(), deadline, run_atom::value, std::move(req))
      .receive([&](task_result& r) { result = std::move(r); },
               [&](caf::error& e) { err = std::move(e); });
  }
  auto gave_up = eng->gave_up();
  auto tree = eng->supervision();
  if (!result) {
    std::cerr << "troupe: task failed: " << describe(err) << "\n";
  } else if (opts.json) {
    auto out = to_json(*result);
    if (opts.trace)
      out["supervision"] = to_json(tree);
    if (gave_up)
      out["engine_stopped"] = *gave_up;
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace)
              << "\n";
  } else if (result->status == task_status::completed) {
    std::cout << to_text(*result);
  } else {
    std::cerr << "troupe: task " << to_string(result->status) << " ("
              << result->error_code << "): " << result->answer << "\n";
  }
  if (opts.trace && !opts.json)
    std::cerr << "supervision tree:\n" << supervision_text(tree);
  if (gave_up) {
    std::cerr << "troupe: the engine stopped: " << *gave_up << "\n";
    return exit_engine_down;
  }
  if (!result || result->status != task_status::completed)
    return exit_task_failed;
  return exit_ok;
}

/// The engine config and the local tool registry the options describe.
struct local_setup {
  engine_config config;
  std::shared_ptr<tools::catalog> tools;
};

result<local_setup> make_local_setup(const options& opts) {
  auto ecfg = engine_config_from(opts);
  if (!ecfg)
    return ecfg.error();
  auto reg = make_tool_registry(*ecfg, {});
  if (!reg)
    return reg.error();
  return local_setup{std::move(*ecfg),
                     std::make_shared<tools::catalog>(std::move(*reg))};
}

/// `troupe tools [list]`: the built-in tools, the configured MCP servers'
/// (started for the listing) and memory's, with their schemas.
int list_tools(const options& opts) {
  auto setup = make_local_setup(opts);
  if (!setup) {
    std::cerr << "troupe: " << setup.error().message << "\n";
    return exit_usage;
  }
  auto servers = start_mcp_servers(setup->config, setup->tools);
  auto specs = setup->tools->snapshot()->specs();
  for (auto& s : memory::tool_specs())
    specs.push_back(s);
  for (auto& srv : servers) {
    auto st = srv->status();
    if (st.state != mcp::server_state::ready)
      std::cerr << "troupe: MCP server '" << st.name << "' is "
                << mcp::to_string(st.state)
                << (st.last_error.empty() ? "" : ": " + st.last_error)
                << "; its tools are missing\n";
  }
  if (opts.json) {
    std::cout << to_json(specs).dump(2, ' ', false,
                                     json::error_handler_t::replace)
              << "\n";
    return exit_ok;
  }
  for (auto& s : specs) {
    std::string perms;
    for (auto& p : s.permissions)
      perms += (perms.empty() ? "" : ",") + p;
    std::cout << s.name << "\t" << s.description << "\n"
              << "  needs: " << (perms.empty() ? "-" : perms)
              << (s.idempotent ? "; idempotent" : "")
              << "; timeout " << s.timeout_ms << " ms"
              << (s.cache_ttl_ms > 0
                    ? "; cached " + std::to_string(s.cache_ttl_ms) + " ms"
                    : "")
              << "\n  arguments: " << s.parameters << "\n";
  }
  return exit_ok;
}

/// `troupe tools call NAME JSON`: one call as the command line's principal
/// would make it, through the guardrail (permissions) and the executor
/// (schema, deadline). The tool's output (or error) goes to stdout as JSON.
int call_tool(const options& opts) {
  if (opts.positional.size() < 2 || opts.positional.size() > 3)
    return usage_error("tools call takes a tool name and its arguments as "
                       "JSON, e.g. tools call calculator "
                       "'{\"expression\":\"1+1\"}'");
  auto loaded = engine_config_for_run(opts);
  if (!loaded)
    return exit_usage;
  auto& ecfg = *loaded;
  auto cfg = make_config();
  caf::actor_system sys{cfg};
  auto eng = engine::start(sys, ecfg);
  if (!eng) {
    std::cerr << "troupe: " << describe(eng.error()) << "\n";
    return code_of(eng.error()) == errc::invalid_config ? exit_usage
                                                        : exit_task_failed;
  }
  tool_call call{"cli_1", opts.positional[1],
                 opts.positional.size() == 3 ? opts.positional[2] : "{}"};
  tool_invocation inv{call, 0, opts.session, "cli", opts.agent};
  tool_result out;
  caf::error err;
  caf::scoped_actor self{sys};
  auto deadline = ecfg.timeouts.tool + std::chrono::seconds{5};
  if (memory::is_memory_tool(call.name)) {
    self->request((*eng)->memory(), deadline, call_atom::value, inv)
      .receive([&](tool_result& r) { out = std::move(r); },
               [&](caf::error& e) { err = std::move(e); });
  } else {
    self->request((*eng)->guardrail(), deadline, authorize_atom::value, inv)
      .receive([&](tool_invocation& approved) { inv = std::move(approved); },
               [&](caf::error& e) { err = std::move(e); });
    if (!err)
      self->request((*eng)->tools(), deadline, call_atom::value, inv)
        .receive([&](tool_result& r) { out = std::move(r); },
                 [&](caf::error& e) { err = std::move(e); });
  }
  if (err) {
    auto code = code_of(err);
    std::cout << error_json({code == errc::unspecified ? errc::tool_failed
                                                       : code,
                             describe(err)})
              << "\n";
    std::cerr << "troupe: " << describe(err) << "\n";
    return exit_task_failed;
  }
  auto value = json::parse(out.output, nullptr, false);
  std::cout << (value.is_discarded() ? json(out.output) : value)
                 .dump(2, ' ', false, json::error_handler_t::replace)
            << "\n";
  return out.ok ? exit_ok : exit_task_failed;
}

int tools_command(const options& opts) {
  if (opts.positional.empty() || opts.positional[0] == "list") {
    if (opts.positional.size() > 1)
      return usage_error("tools list takes no arguments");
    return list_tools(opts);
  }
  if (opts.positional[0] == "call")
    return call_tool(opts);
  return usage_error("unknown tools command '" + opts.positional[0] +
                     "' (list, call)");
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

/// `troupe memory …`: the long-term store, used directly (no engine).
int memory_command(const options& opts) {
  if (opts.positional.empty())
    return usage_error("memory needs a subcommand: search, stats, export, "
                       "import or compact");
  auto& sub = opts.positional[0];
  auto args = opts.positional.size() - 1;
  auto want_args = sub == "search" || sub == "import" ? 1u : 0u;
  if (sub != "search" && sub != "stats" && sub != "export" &&
      sub != "import" && sub != "compact")
    return usage_error("unknown memory subcommand '" + sub + "'");
  if (args != want_args)
    return usage_error("memory " + sub + " takes " +
                       std::to_string(want_args) + " argument(s), got " +
                       std::to_string(args));
  auto ecfg = engine_config_from(opts);
  if (!ecfg) {
    std::cerr << "troupe: " << ecfg.error().message << "\n";
    return exit_usage;
  }
  auto lt = long_term_of(*ecfg);
  if (!lt) {
    std::cerr << "troupe: long-term memory is disabled (memory.long_term)\n";
    return exit_usage;
  }
  // Reading commands never create a store.
  auto writes = sub == "import" || sub == "compact";
  auto store = memory::long_term_store::open(
    *lt, writes ? memory::long_term_store::mode::read_write
                : memory::long_term_store::mode::read_only);
  if (!store && store.error().code == errc::not_found && !writes) {
    // Nothing stored yet: an empty answer, not an error.
    if (sub == "stats")
      std::cout << (opts.json ? "{\"memories\":0,\"expired\":0,"
                                "\"file_bytes\":0,\"namespaces\":{}}\n"
                              : "no memories yet in " + lt->file.string() +
                                  "\n");
    return exit_ok;
  }
  if (!store) {
    std::cerr << "troupe: " << store.error().message << "\n";
    return exit_task_failed;
  }
  auto& s = **store;
  auto ns = opts.ns.value_or(memory::memory_namespace("cli", opts.agent));
  auto fail = [](const failure& f) {
    std::cerr << "troupe: " << f.message << "\n";
    return f.code == errc::invalid_input ? exit_usage : exit_task_failed;
  };
  if (sub == "search") {
    auto hits = s.search(ns, opts.positional[1], opts.limit.value_or(5));
    if (!hits)
      return fail(hits.error());
    if (opts.json) {
      json out = json::array();
      for (auto& h : *hits)
        out.push_back({{"id", h.rec.id},
                       {"text", h.rec.text},
                       {"score", h.score},
                       {"created_ms", h.rec.created_ms}});
      std::cout << out.dump(2, ' ', false, json::error_handler_t::replace)
                << "\n";
    } else {
      for (auto& h : *hits)
        std::cout << h.rec.id << "\t" << h.rec.text << "\n";
    }
    return exit_ok;
  }
  if (sub == "stats") {
    auto st = s.stats();
    if (!st)
      return fail(st.error());
    if (opts.json) {
      json per = json::object();
      for (auto& [name, n] : st->namespaces)
        per[name] = n;
      std::cout << json{{"memories", st->memories},
                        {"expired", st->expired},
                        {"file_bytes", st->file_bytes},
                        {"namespaces", per}}
                     .dump(2)
                << "\n";
    } else {
      std::cout << "file: " << lt->file.string() << "\n"
                << "memories: " << st->memories << " (" << st->expired
                << " expired)\n"
                << "size: " << st->file_bytes << " bytes\n";
      for (auto& [name, n] : st->namespaces)
        std::cout << "  " << name << "\t" << n << "\n";
    }
    return exit_ok;
  }
  if (sub == "export") {
    auto n = s.export_jsonl(std::cout, opts.ns);
    if (!n)
      return fail(n.error());
    return exit_ok;
  }
  if (sub == "import") {
    auto& from = opts.positional[1];
    std::ifstream file;
    if (from != "-") {
      file.open(from);
      if (!file) {
        std::cerr << "troupe: cannot read '" << from << "'\n";
        return exit_usage;
      }
    }
    auto n = s.import_jsonl(from == "-" ? std::cin : file);
    if (!n)
      return fail(n.error());
    std::cout << "imported " << *n << " memories\n";
    return exit_ok;
  }
  auto c = s.compact();
  if (!c)
    return fail(c.error());
  std::cout << "removed " << c->expired_removed << " expired and "
            << c->over_cap_removed << " over-cap memories\n";
  return exit_ok;
}

int serve_node(const options& opts) {
  auto loaded = engine_config_for_run(opts);
  if (!loaded)
    return exit_usage;
  auto& ecfg = *loaded;
  if (!opts.listen.empty())
    ecfg.cluster.listen = opts.listen;
  if (ecfg.cluster.listen.empty())
    return usage_error("node needs --listen HOST:PORT (or cluster.listen): "
                       "where the other nodes reach it");
  if (!parse_endpoint(ecfg.cluster.listen))
    return usage_error("--listen expects HOST:PORT, got '" +
                       ecfg.cluster.listen + "'");
  // A node serves roles to others; tasks enter through `troupe serve` or
  // `troupe run`.
  std::erase(ecfg.cluster.roles, std::string{"api"});
  if (ecfg.cluster.roles.empty())
    return usage_error("node needs --roles with at least one of planner, "
                       "memory, tools");
  // Blocked before CAF (or an MCP server's thread) starts, so only the
  // wait below ever sees them.
  runtime::stop_signals signals{SIGINT, SIGTERM};
  runtime::app_spec spec;
  spec.node = true;
  spec.key_missing = "node needs TROUPE_APPROVAL_KEY (64 hex digits, the "
                     "same on every node): it runs only tool calls a "
                     "guardrail signed with that key (see troupe --help)";
  // The roles it runs, under the engine's supervisors (its MCP servers'
  // tools included); the others come from the cluster.
  auto started = runtime::app::start(ecfg, spec);
  if (auto code = std::get_if<int>(&started))
    return *code;
  auto& app = *std::get<std::unique_ptr<runtime::app>>(started);
  auto node = app.node();
  std::string roles;
  for (auto& r : ecfg.cluster.roles)
    roles += (roles.empty() ? "" : ",") + r;
  auto host = parse_endpoint(ecfg.cluster.listen)->first;
  // Tests and scripts read the bound port from this line (--listen :0).
  std::cout << "troupe node " << node->name() << ": serving " << roles
            << " on " << host << ":" << node->port()
            << (ecfg.cluster.tls.enabled() ? " (TLS)" : "") << std::endl;
  log::get()->info(R"("event":"node_started","roles":{},"port":{})",
                   log::quote(roles), node->port());
  auto sig = signals.wait();
  log::get()->info(R"("event":"node_stopping","signal":{})", sig);
  app.stop();
  return exit_ok;
}

/// `troupe cluster gen-certs DIR [NODE...]`: a test cluster CA and a
/// certificate per node (default: node-1, node-2, node-3).
/// `troupe cluster status HOST:PORT`: a daemon's tool nodes, from its
/// /v1/cluster (API key from TROUPE_API_KEY).
int cluster_status(const options& opts) {
  if (opts.positional.size() != 2)
    return usage_error("cluster status takes the daemon's HOST:PORT");
  auto url = "http://" + opts.positional[1] + "/v1/cluster";
  std::string body;
  long status = 0;
  auto curl = curl_easy_init();
  if (curl == nullptr)
    return exit_task_failed;
  curl_slist* headers = nullptr;
  if (auto key = std::getenv("TROUPE_API_KEY"); key && *key)
    headers = curl_slist_append(headers,
                                (std::string{"Authorization: Bearer "} + key)
                                  .c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
    curl, CURLOPT_WRITEFUNCTION,
    +[](char* data, size_t size, size_t n, void* out) -> size_t {
      static_cast<std::string*>(out)->append(data, size * n);
      return size * n;
    });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  auto rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    std::cerr << "troupe: cannot reach " << url << ": "
              << curl_easy_strerror(rc) << "\n";
    return exit_task_failed;
  }
  auto doc = json::parse(body, nullptr, false);
  if (status != 200 || doc.is_discarded() || !doc.contains("nodes")) {
    std::cerr << "troupe: " << url << " answered " << status << ": " << body
              << "\n";
    return exit_task_failed;
  }
  if (opts.json) {
    std::cout << doc.dump(2) << "\n";
    return exit_ok;
  }
  if (doc["nodes"].empty()) {
    std::cout << "not clustered: this daemon runs every role itself\n";
    return exit_ok;
  }
  std::cout << "NODE\tADDRESS\tROLES\tSTATE\tLOAD\tRTT µs\tSENT\tRECEIVED\t"
               "PENDING\tLOST\tLAST ERROR\n";
  auto text = [](const json& x) {
    return x.is_string() ? x.get<std::string>() : std::string{};
  };
  for (auto& n : doc["nodes"]) {
    std::string roles;
    for (auto& r : n.value("roles", json::array()))
      roles += (roles.empty() ? "" : ",") + text(r);
    std::cout << text(n["name"]) << "\t"
              << (text(n["where"]).empty() ? "-" : text(n["where"])) << "\t"
              << roles << "\t" << text(n["state"]) << "\t"
              << n.value("load", 0) << "\t"
              << static_cast<long>(n.value("rtt_us", 0.0)) << "\t"
              << n.value("sent", 0) << "\t" << n.value("received", 0) << "\t"
              << n.value("pending", 0) << "\t" << n.value("lost", 0) << "\t"
              << text(n["last_error"]) << "\n";
  }
  return exit_ok;
}

int cluster_command(const options& opts) {
  if (!opts.positional.empty() && opts.positional[0] == "status")
    return cluster_status(opts);
  if (opts.positional.empty() || opts.positional[0] != "gen-certs")
    return usage_error("cluster takes gen-certs DIR [NODE...] or status "
                       "HOST:PORT");
  if (opts.positional.size() < 2)
    return usage_error("cluster gen-certs needs the directory to write to");
  std::filesystem::path dir = opts.positional[1];
  std::vector<std::string> nodes(opts.positional.begin() + 2,
                                 opts.positional.end());
  if (nodes.empty())
    nodes = {"node-1", "node-2", "node-3"};
  if (auto ok = cluster::generate_certs(dir, nodes); !ok) {
    std::cerr << "troupe: " << ok.error().message << "\n";
    return exit_usage;
  }
  std::cout << "wrote " << (dir / "ca.pem").string() << " and "
            << (dir / "ca.key").string() << " (the cluster CA; keep ca.key "
            << "off the nodes)\n";
  for (auto& n : nodes)
    std::cout << "wrote " << (dir / (n + ".pem")).string() << " and "
              << (dir / (n + ".key")).string() << "\n";
  std::cout << "each node's config: \"cluster\": {\"tls\": {\"certificate\": "
               "\"<node>.pem\", \"key\": \"<node>.key\", \"cafile\": "
               "\"ca.pem\"}}\n";
  return exit_ok;
}

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
    return run_task(opts);
  if (opts.command == "tools")
    return tools_command(opts);
  if (opts.command == "memory")
    return memory_command(opts);
  if (opts.command == "access")
    return access_command(opts);
  if (opts.command == "serve")
    return serve_command(opts);
  if (opts.command == "node")
    return serve_node(opts);
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
