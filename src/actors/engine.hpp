#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actors/protocol.hpp"
#include "actors/settings.hpp"
#include "agents/catalog.hpp"
#include "guardrail/approval.hpp"
#include "guardrail/rules.hpp"
#include "mcp/server.hpp"
#include "tools/tool.hpp"

namespace troupe {

class role_directory;
class supervision_tree;

/// What an embedding program may plug in; empty members take the defaults.
struct engine_options {
  /// The model; default: the offline rule-based provider. Supplied roles
  /// are not restarted by the engine's supervisor, but stopped with it.
  provider_actor provider;
  /// The tool executor; default: a local one with the built-in tools. A
  /// cluster node sets it to a router (see `cluster_node::route`).
  tool_executor_actor tools;
  /// The planner; default: local planner instances over local providers.
  /// Set it to a router to plan on other nodes.
  planner_actor planner;
  /// The memory role; default: a local one. Set it to a router to keep
  /// memory on another node.
  memory_actor memory;
  /// With `tools` set: start even if it cannot list its tools yet (they
  /// come later, e.g. when a tool node joins); default: that is an error.
  bool tools_may_come_later = false;
  /// Told of every role the engine's supervisors start or restart, with
  /// its instance name ("planner.1", "memory", "tools"…) and new handle.
  std::function<void(const std::string&, const caf::actor&)> on_role_start;
  /// Extra tools for the local executor (ignored when `tools` is set).
  std::vector<tools::entry> extra_tools;
  /// Key the guardrail signs tool-call approvals with; a tool node must
  /// hold the same one. Default: a fresh random key.
  std::optional<guardrail::approval_key> approval_key;
};

/// The built-in tools for `cfg`, plus `extra`. Fails if a tool is invalid or
/// a name is taken twice.
result<tools::registry> make_tool_registry(const engine_settings& cfg,
                                           std::vector<tools::entry> extra);

struct tool_executor_setup;

/// Gives `e` the timeout, cache TTL and permissions `overrides` (the
/// config's `tools.overrides`) set for it.
void apply_override(const decltype(tools::settings::overrides)& overrides,
                    tools::entry& e);

/// Starts `cfg`'s MCP servers, registering their tools in `catalog` as
/// their lists come (and change), and waits (each up to its start
/// timeout) for their first lists. A server that does not start is logged
/// and keeps retrying with backoff; its tools are missing meanwhile.
std::vector<std::unique_ptr<mcp::server>>
start_mcp_servers(const engine_settings& cfg,
                  std::shared_ptr<tools::catalog> catalog);

/// A local tool executor's setup for `cfg`: the worker pool and result
/// cache it sizes, over `catalog`, checking approvals with `verifier`.
std::shared_ptr<tool_executor_setup>
make_tool_setup(const engine_settings& cfg,
                std::shared_ptr<tools::catalog> catalog,
                std::shared_ptr<guardrail::approval_verifier> verifier);

/// An engine's tools, set up before any role starts.
struct engine_tools {
  /// Every tool offered to the model: the local executor's (built-in, the
  /// embedder's, then the MCP servers' as they list them) or those the
  /// supplied executor listed, and memory's (which only list here).
  std::shared_ptr<tools::catalog> catalog;
  /// The local executor's setup; null when the executor was supplied.
  std::shared_ptr<tool_executor_setup> executor;
  /// The MCP servers, whose tools run in the local executor (none when the
  /// executor was supplied).
  std::vector<std::unique_ptr<mcp::server>> mcp;
};

/// The tools for `cfg` and `opts`. With `opts.tools` set: asks it for its
/// tools (within `cfg.timeouts.role`; an error unless
/// `opts.tools_may_come_later`). Otherwise: the registry of
/// `make_tool_registry` (moving `opts.extra_tools` into it), then the MCP
/// servers (`start_mcp_servers`) and the executor's setup
/// (`make_tool_setup`, checking approvals with `verifier`). Errors name the
/// bad tool or why the executor could not list its tools.
result<engine_tools>
setup_tools(caf::actor_system& sys, const engine_settings& cfg,
            engine_options& opts,
            std::shared_ptr<guardrail::approval_verifier> verifier);

/// A plan request that asks agent `a`'s model (its first provider, its
/// model) to complete `messages` as they are, offered no tools: one model
/// call for the engine's own needs, such as a thread's summary.
plan_request tool_free_request(const agents::agent& a, uint64_t task_id,
                               std::vector<chat_message> messages);

/// One running engine inside a caller's actor system: every role spawned
/// under a root supervisor, which restarts a role that fails; callers reach
/// roles through the accessors, which always return the current handle.
/// Destroying the engine stops the roles in reverse start order.
class engine {
public:
  /// Validates `cfg`, spawns the roles and asks the tool executor (which may
  /// be remote) for its tools. Errors name the bad setting or the lost node.
  static caf::expected<std::unique_ptr<engine>>
  start(caf::actor_system& sys, engine_settings cfg, engine_options opts = {});

  ~engine();

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Where tasks go: `(run_atom, task_request) -> task_result`.
  task_actor tasks() const;

  /// The monitor role (event counters, logs).
  monitor_actor monitor() const;

  /// The memory role.
  memory_actor memory() const;

  /// The tool executor (local, or the front of a remote one).
  tool_executor_actor tools() const;

  /// The guardrail role.
  guardrail_actor guardrail() const;

  /// The planner instance serving task `task_id` (for a model call of the
  /// engine's own: see `tool_free_request`).
  planner_actor planner(uint64_t task_id) const;

  /// Every supervised child of the tree, parents before their children:
  /// its supervisor, state, restart count and last exit reason.
  std::vector<child_status> supervision() const;

  /// Why the engine stopped for good, if it did: the root supervisor went
  /// past its restart intensity (it then stopped every role).
  std::optional<std::string> gave_up() const;

  /// The root supervisor; it exits with an error if it gives up.
  caf::actor root() const {
    return root_;
  }

  /// The guardrail's rules in force: what leaves the engine outside a task
  /// (memory search, errors) passes their output filter too.
  const std::shared_ptr<guardrail::rules_holder>& rules() const {
    return rules_;
  }

  /// Every tool offered to the model now (executor's and memory's).
  std::vector<tool_spec> tool_specs() const {
    return catalog_->snapshot()->specs();
  }

  /// The tools in force; MCP servers add theirs at run time.
  const std::shared_ptr<tools::catalog>& catalog() const {
    return catalog_;
  }

  /// The MCP servers' states (name, state, pid, tools, restarts, errors).
  std::vector<mcp::server_status> mcp_status() const;

  /// The local tool executor's pool, cache and counters (null when the
  /// tools run on another node).
  const std::shared_ptr<const tool_executor_setup>& tool_setup() const {
    return tool_setup_;
  }

  /// The mailbox gauges of the roles (a node's load).
  const std::shared_ptr<role_gauges>& gauges() const {
    return gauges_;
  }

  const engine_settings& config() const {
    return cfg_;
  }

  /// Messages waiting in each role's mailbox (memory, guardrail, tools,
  /// planner.N, provider.N), as each role last saw its own.
  std::map<std::string, uint64_t> mailbox_depths() const;

  /// Puts new roles, principals, tool lists and API keys in force for the
  /// guardrail and memory roles, at once and without a restart (checked
  /// with `validate` first). Not thread-safe against itself.
  void set_access(guardrail::access_config cfg);

  /// The agents in force (`agents.<name>`, plus `default`).
  std::shared_ptr<const agents::catalog> agents() const {
    return agents_->get();
  }

  /// Puts the agents of `next` in force for tasks that start from now
  /// (running ones keep theirs); the engine's budgets in `next` fill in
  /// what an agent leaves unset. Fails, changing nothing, if an agent is
  /// invalid or names a provider the engine did not start with.
  result<bool> set_agents(const engine_settings& next);

private:
  engine() = default;

  engine_settings cfg_;
  std::shared_ptr<tools::catalog> catalog_;
  std::shared_ptr<const tool_executor_setup> tool_setup_;
  /// MCP servers, stopped when the engine is destroyed (after the roles
  /// were told to stop).
  std::vector<std::unique_ptr<mcp::server>> mcp_;
  std::shared_ptr<role_directory> directory_;
  std::shared_ptr<guardrail::access_holder> access_;
  std::shared_ptr<guardrail::rules_holder> rules_;
  std::shared_ptr<agents::holder> agents_;
  std::shared_ptr<role_gauges> gauges_;
  caf::actor root_;
  std::shared_ptr<supervision_tree> tree_;
  /// Roles supplied in `engine_options`, stopped with the engine.
  std::vector<caf::actor> owned_;
};

} // namespace troupe
