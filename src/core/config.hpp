#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/certs.hpp"
#include "mcp/server.hpp"
#include "tools/http_get.hpp"
#include "tools/shell.hpp"
#include "core/faults.hpp"
#include "core/result.hpp"
#include "guardrail/access.hpp"
#include "guardrail/input_filter.hpp"
#include "memory/long_term.hpp"

namespace troupe {

/// Deadlines. Every request a task makes is bounded by the task's deadline;
/// calls that leave the process also have their own.
struct timeouts {
  /// One task, end to end: the runner fails the task with `timeout` (naming
  /// what it was waiting for) when this passes, whatever it is waiting on.
  std::chrono::milliseconds task{120000};
  /// One call to a tool executor on another node.
  std::chrono::milliseconds tool{30000};
  /// Setup requests between roles (e.g. listing a remote node's tools).
  std::chrono::milliseconds role{5000};
};

/// Which children a supervisor restarts when one fails.
enum class restart_strategy : uint8_t {
  /// Only the failed child.
  one_for_one,
  /// Every child (the others are stopped first, in reverse order).
  one_for_all,
  /// The failed child and every child started after it.
  rest_for_one,
};

/// Returns "one_for_one", "one_for_all" or "rest_for_one".
const char* to_string(restart_strategy x) noexcept;

/// A supervisor's restart policy, as configured.
struct supervisor_policy {
  restart_strategy strategy = restart_strategy::one_for_one;
  /// At most this many restarts within `period`; one more escalates.
  uint32_t intensity = 10;
  std::chrono::milliseconds period{10000};
  /// Delay before each restart.
  std::chrono::milliseconds backoff{0};
  /// Time each child gets to stop before it is killed.
  std::chrono::milliseconds shutdown{5000};
};

/// The policies of the engine's supervisors (DESIGN.md's tree): key
/// `supervision.<name>`.
struct supervision_config {
  /// The root: monitor, memory, guardrail, providers, tools, planner, tasks.
  supervisor_policy root;
  /// The model providers (the primary and its fallbacks).
  supervisor_policy providers;
  /// The tool executors.
  supervisor_policy tool_executors;
  /// The planner pool.
  supervisor_policy planners;
};

/// One model provider (key `provider`, or `providers.<name>` for the
/// fallback chain).
struct provider_config {
  /// offline (the rule-based planner), openai (any OpenAI-compatible Chat
  /// Completions endpoint) or anthropic (Messages API).
  std::string kind = "offline";
  std::string model;
  /// Default: https://api.openai.com/v1 or https://api.anthropic.com/v1.
  std::string base_url;
  /// The environment variable holding the API key (default OPENAI_API_KEY
  /// or ANTHROPIC_API_KEY); "" for a server that needs none (e.g. a local
  /// vLLM or Ollama). The key is never read from a file.
  std::optional<std::string> api_key_env;
  uint32_t max_tokens = 1024;
  /// Stream the answer (SSE).
  bool stream = true;
  std::chrono::milliseconds connect_timeout{10000};
  /// One model call, end to end.
  std::chrono::milliseconds timeout{120000};
  /// Retries of a call after a network error, 429, 5xx or 529, with
  /// exponential backoff and jitter from `retry_base`, honouring
  /// Retry-After up to `retry_max`.
  uint32_t max_retries = 3;
  std::chrono::milliseconds retry_base{500};
  std::chrono::milliseconds retry_max{30000};
  /// Calls in flight at once (more wait their turn).
  uint32_t max_concurrency = 64;
  /// After this many failed calls in a row the circuit opens: calls fail at
  /// once (and the task falls back) until `breaker_cooldown` has passed.
  uint32_t breaker_failures = 5;
  std::chrono::milliseconds breaker_cooldown{30000};

  /// The API key variable in effect ("" for none).
  std::string key_variable() const;
  /// The base URL in effect.
  std::string url() const;
};

/// The daemon, `troupe serve` (key `serve`).
struct serve_config {
  /// HOST:PORT to listen on (port 0: any free one).
  std::string listen = "127.0.0.1:8080";
  /// Threads of the HTTP server (they hold every connection).
  uint32_t io_threads = 1;
  /// Largest request body, in bytes (413 beyond).
  size_t max_body_bytes = 1 << 20;
  /// Most open connections (503 beyond).
  size_t max_connections = 20000;
  /// A request must arrive within this time (408 beyond); bounds writes.
  std::chrono::milliseconds io_timeout{30000};
  /// On SIGTERM/SIGINT: how long in-flight tasks may run on before the
  /// daemon exits (they stay in the journal).
  std::chrono::milliseconds drain{20000};
  /// Requests per second per principal, and the burst above it (429
  /// beyond); 0: no limit.
  double rate_limit = 50;
  uint32_t rate_burst = 100;
  /// Finished tasks kept in memory for GET (older ones are read from the
  /// journal).
  size_t keep_finished = 10000;
  /// fsync each journal commit: an acknowledged task survives a power cut.
  bool durable = true;
};

/// Everything an engine instance needs; validated before any actor starts.
struct engine_config {
  /// Root the file tool is confined to.
  std::filesystem::path workspace = ".";
  /// Largest file the file tool reads, in bytes.
  uint64_t max_file_bytes = 1 << 20;
  /// Short-term memory: entries kept per session (LRU beyond that).
  size_t memory_capacity = 1000;
  /// Short-term memory: sessions kept (LRU beyond that).
  size_t memory_max_sessions = 10000;
  /// Where data lives on disk (the long-term memory database). Empty:
  /// nothing is kept on disk. The command line defaults it to
  /// $XDG_DATA_HOME/troupe (else ~/.local/share/troupe).
  std::filesystem::path data_dir;
  /// Long-term memory in `data_dir` (key `memory.*`).
  struct long_term_memory {
    bool enabled = true;
    size_t max_entry_bytes = 8192;
    size_t max_per_namespace = 100000;
    /// fsync each commit: acknowledged memories survive a power cut.
    bool durable = true;
    /// Reader connections (recall runs on them, never behind writes).
    uint32_t readers = 2;
    /// Memories recalled before planning.
    uint32_t recall_limit = 3;
    /// Lifetime of a stored memory; 0: forever.
    std::chrono::milliseconds ttl{0};
  } long_term;
  /// Principals, roles and permissions.
  guardrail::access_config access;
  /// Most agent-loop steps (planner round trips with tool calls) per task.
  uint32_t max_steps = 8;
  /// Threads of the local tool executor's worker pool, where blocking tools
  /// (files, processes, network) run: calls of one step run in parallel on
  /// up to this many.
  uint32_t tool_workers = 2;
  /// Blocking calls that may wait for a worker; past it a call fails at once
  /// with `overloaded`.
  uint32_t tool_queue = 1024;
  /// Results the tool result cache holds (LRU beyond; 0: no cache). Only
  /// tools with a cache TTL are cached.
  uint32_t tool_cache_entries = 1024;
  /// The http_get tool: allowed hosts (none by default), limits.
  tools::http_get_config http_get;
  /// The shell tool's sandbox limits (its workspace is `workspace`).
  tools::shell_config shell;
  /// Per tool (built-in, embedder's or MCP): timeout, cache TTL or
  /// permissions other than the tool's own.
  struct tool_override {
    std::optional<uint32_t> timeout_ms;
    std::optional<uint32_t> cache_ttl_ms;
    std::optional<std::vector<std::string>> permissions;
  };
  std::map<std::string, tool_override, std::less<>> tool_overrides;
  /// MCP servers started with the engine; their tools are offered as
  /// "<name>__<tool>".
  std::vector<mcp::server_config> mcp_servers;
  /// TLS between nodes (`cluster.tls`): this node's certificate and key and
  /// the cluster CA. Set: every link between nodes is TLS with mutual
  /// authentication; a peer without a certificate from the CA is refused.
  cluster::tls_files cluster_tls;
  /// Heartbeats between nodes (`cluster.heartbeat_ms`; 0: off) and how long
  /// a peer may stay silent before it counts as lost
  /// (`cluster.connection_timeout_ms`).
  std::chrono::milliseconds cluster_heartbeat{500};
  std::chrono::milliseconds cluster_connection_timeout{2000};
  /// This node in a cluster (`cluster.name`; default: its advertised
  /// address), where it listens for other nodes (`cluster.listen`,
  /// "host:port"; empty: it only dials out) and the address the others
  /// should dial (`cluster.advertise`; default: `listen`).
  std::string cluster_name;
  std::string cluster_listen;
  std::string cluster_advertise;
  /// Nodes to join through (`cluster.seeds`, "host:port"): any one node of
  /// the cluster is enough, the rest is learnt from it.
  std::vector<std::string> cluster_seeds;
  /// The roles this node runs (`cluster.roles`): a role it leaves out is
  /// asked of the nodes that offer it.
  std::vector<std::string> cluster_roles{"api", "planner", "memory", "tools"};
  /// How often nodes ping and gossip (`cluster.gossip_ms`).
  std::chrono::milliseconds cluster_gossip{1000};

  /// True if this node joins a cluster (it listens or has seeds).
  bool clustered() const {
    return !cluster_listen.empty() || !cluster_seeds.empty();
  }
  /// True if this node runs `role` itself.
  bool runs(std::string_view role) const {
    for (auto& r : cluster_roles)
      if (r == role)
        return true;
    return false;
  }
  /// Planner instances: each task keeps to one, so they plan in parallel
  /// and a crash loses only one instance's queue.
  uint32_t planner_workers = 2;
  /// Most tool calls the planner may request in one step.
  uint32_t max_parallel_calls = 16;
  /// Input checks.
  guardrail::input_filter_config guardrail;
  /// Rules file (config/guardrail.rules format) with the input and output
  /// rules, re-read on request; empty: the built-in rules (and
  /// `guardrail.deny_patterns`). Key `guardrail.rules_file`.
  std::filesystem::path guardrail_rules;
  /// Request deadlines.
  struct timeouts timeouts;
  /// Restart policies (key `supervision`).
  supervision_config supervision;
  /// The primary model provider (key `provider`).
  provider_config provider;
  /// Named providers for the fallback chain (key `providers`).
  std::map<std::string, provider_config> providers;
  /// Providers the planner falls back to, in order, when the one before
  /// fails or is down (key `provider.fallback`): "offline" or a name from
  /// `providers`; in the tree they are provider.1, provider.2…
  std::vector<std::string> provider_fallback{"offline"};
  /// Most model tokens (prompt + completion) one task may spend; 0: no
  /// limit (key `budget.max_tokens`).
  uint64_t max_task_tokens = 0;
  /// The daemon's settings.
  serve_config serve;
  /// trace|debug|info|warn|error|critical|off; empty: the command line's
  /// (default error). `--log-level` wins over the file.
  std::string log_level;
  /// Injected faults by role name (memory, guardrail, planner, provider,
  /// provider.1…, tools); empty in production.
  std::map<std::string, fault_spec> faults;
};

/// Most providers in `provider.fallback`.
constexpr size_t max_provider_fallbacks = 4;

/// True for the role names `faults` accepts: memory, guardrail, planner,
/// provider, provider.1.., tools.
bool is_fault_role(std::string_view role);

/// The long-term store's settings if `cfg` keeps one (a data directory is
/// set and long-term memory is enabled).
std::optional<memory::long_term_config> long_term_of(const engine_config& cfg);

/// Splits "host:port" (the last colon); the port must be 0..65535.
std::optional<std::pair<std::string, uint16_t>>
parse_endpoint(const std::string& s);

/// The non-empty items of a comma-separated list ("a:1,b:2").
std::vector<std::string> split_list(std::string_view text);

/// Checks every field; the error names the key and the bad value.
result<bool> validate(const engine_config& cfg);

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
