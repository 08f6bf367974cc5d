#include "actors/engine.hpp"

#include <cassert>
#include <condition_variable>
#include <mutex>
#include <set>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <spdlog/spdlog.h>

#include "actors/guardrail.hpp"
#include "actors/http_provider.hpp"
#include "actors/memory.hpp"
#include "actors/monitor.hpp"
#include "actors/planner.hpp"
#include "actors/provider.hpp"
#include "actors/supervision_spec.hpp"
#include "actors/supervision_tree.hpp"
#include "actors/supervisor.hpp"
#include "actors/task_manager.hpp"
#include "actors/task_runner.hpp"
#include "actors/tool_executor.hpp"
#include "memory/tools.hpp"
#include "tools/calculator.hpp"
#include "core/log.hpp"
#include "tools/builtin.hpp"

namespace troupe {

void apply_override(const decltype(tools::settings::overrides)& overrides,
                    tools::entry& e) {
  auto i = overrides.find(e.spec.name);
  if (i == overrides.end())
    return;
  auto& o = i->second;
  if (o.timeout_ms)
    e.spec.timeout_ms = *o.timeout_ms;
  if (o.cache_ttl_ms)
    e.spec.cache_ttl_ms = *o.cache_ttl_ms;
  if (o.permissions)
    e.spec.permissions = *o.permissions;
}

std::vector<std::unique_ptr<mcp::server>>
start_mcp_servers(const engine_settings& cfg,
                  std::shared_ptr<tools::catalog> catalog) {
  std::vector<std::unique_ptr<mcp::server>> out;
  for (auto& s : cfg.mcp_servers) {
    // Each new list of a server's tools replaces the old one in the
    // catalog: the planner offers it from the next step on.
    auto on_tools = [catalog, overrides = cfg.tools.overrides](
                      const std::string& server,
                      std::vector<tools::entry> xs) {
      for (auto& e : xs)
        apply_override(overrides, e);
      auto n = xs.size();
      auto left_out = catalog->set_group("mcp:" + server, std::move(xs));
      for (auto& f : left_out)
        log::get()->warn(R"("event":"mcp_tool_skipped","server":{},"why":{})",
                         log::quote(server), log::quote(f.message));
      log::get()->info(R"("event":"mcp_tools","server":{},"tools":{})",
                       log::quote(server), n - left_out.size());
    };
    out.push_back(std::make_unique<mcp::server>(s, on_tools));
  }
  // They start in parallel; each gets its own start timeout.
  for (size_t i = 0; i < out.size(); ++i) {
    auto& s = cfg.mcp_servers[i];
    auto wait = std::chrono::milliseconds{s.start_timeout_ms};
    if (auto ok = out[i]->wait_ready(std::chrono::steady_clock::now() + wait);
        !ok)
      log::get()->warn(R"("event":"mcp_server_not_ready","server":{},"why":{})",
                       log::quote(s.name), log::quote(ok.error().message));
  }
  return out;
}

result<tools::registry> make_tool_registry(const engine_settings& cfg,
                                           std::vector<tools::entry> extra) {
  tools::registry reg;
  tools::builtin_config bcfg;
  bcfg.files = {cfg.workspace, cfg.max_file_bytes, cfg.max_file_bytes};
  bcfg.http_get = cfg.tools.http_get;
  bcfg.shell = cfg.tools.shell;
  bcfg.shell.workspace = cfg.workspace;
  if (auto ok = tools::validate(bcfg); !ok)
    return ok.error();
  auto all = tools::builtin_tools(bcfg);
  for (auto& e : extra)
    all.push_back(std::move(e));
  for (auto& e : all) {
    if (memory::is_memory_tool(e.spec.name))
      return failure{errc::invalid_config,
                     "tool name '" + e.spec.name + "' is reserved for memory"};
    apply_override(cfg.tools.overrides, e);
    if (auto ok = reg.add(std::move(e)); !ok)
      return ok.error();
  }
  return reg;
}

std::shared_ptr<tool_executor_setup>
make_tool_setup(const engine_settings& cfg,
                std::shared_ptr<tools::catalog> catalog,
                std::shared_ptr<guardrail::approval_verifier> verifier) {
  auto setup = std::make_shared<tool_executor_setup>();
  setup->catalog = std::move(catalog);
  setup->verifier = std::move(verifier);
  setup->pool =
    std::make_shared<tools::worker_pool>(cfg.tool_workers, cfg.tools.queue);
  if (cfg.tools.cache_entries > 0)
    setup->cache =
      std::make_shared<tools::result_cache>(cfg.tools.cache_entries);
  setup->done_keys = std::make_shared<tools::result_cache>(100'000);
  return setup;
}

namespace {

/// A tool whose calls are served elsewhere (memory, another node).
tools::entry listed_only(tool_spec spec) {
  tools::entry e;
  e.spec = std::move(spec);
  return e;
}

} // namespace

result<engine_tools>
setup_tools(caf::actor_system& sys, const engine_settings& cfg,
            engine_options& opts,
            std::shared_ptr<guardrail::approval_verifier> verifier) {
  engine_tools out;
  // The tools offered: the executor's (local, or listed by a remote one)
  // and the memory role's, which only list here.
  tools::registry base;
  // Tools another executor serves, in their own group of the catalog (a
  // router refreshes it as tool nodes join).
  std::vector<tools::entry> remote_tools;
  if (opts.tools) {
    std::vector<tool_spec> specs;
    caf::scoped_actor self{sys};
    caf::error err;
    self->request(opts.tools, cfg.timeouts.role, list_atom::value)
      .receive([&](std::vector<tool_spec>& xs) { specs = std::move(xs); },
               [&](caf::error& e) { err = std::move(e); });
    if (err && !opts.tools_may_come_later)
      return failure{code_of(err),
                     "cannot list the tools of the tool executor: " +
                       describe(err)};
    if (err)
      log::get()->warn(R"("event":"tools_not_listed","why":{})",
                       log::quote(describe(err)));
    for (auto& s : specs)
      remote_tools.push_back(listed_only(std::move(s)));
  } else {
    auto reg = make_tool_registry(cfg, std::move(opts.extra_tools));
    if (!reg)
      return reg.error();
    base = std::move(*reg);
  }
  for (auto& s : memory::tool_specs())
    if (auto ok = base.add(listed_only(std::move(s))); !ok)
      return ok.error();
  out.catalog = std::make_shared<tools::catalog>(std::move(base));
  if (!remote_tools.empty()) {
    auto left_out =
      out.catalog->set_group(remote_tool_group, std::move(remote_tools));
    if (!left_out.empty())
      return failure{left_out.front().code, "a tool of the tool executor: " +
                                              left_out.front().message};
  }
  // MCP servers' tools run in the local executor.
  if (!opts.tools) {
    out.mcp = start_mcp_servers(cfg, out.catalog);
    out.executor = make_tool_setup(cfg, out.catalog, std::move(verifier));
  }
  return out;
}

namespace {

/// Tracks the first start of every supervised role, so `engine::start` can
/// wait for the tree to be up and later starts count as restarts.
struct boot_state {
  std::mutex mtx;
  std::condition_variable cv;
  std::set<std::string> started;
};

template <class Handle>
caf::actor untyped(const Handle& h) {
  return caf::actor_cast<caf::actor>(h);
}

/// What every supervisor of the engine reports: a (re)started child is
/// published in the directory and a restart counted by the monitor; status
/// changes go to the tree view; a supervisor that gives up is counted (and,
/// for the root, remembered as the engine's end).
supervisor_hooks
make_hooks(std::shared_ptr<role_directory> dir, std::shared_ptr<boot_state> boot,
           std::shared_ptr<supervision_tree> tree,
           std::function<void(const std::string&, const caf::actor&)> told) {
  supervisor_hooks hooks;
  hooks.on_start = [dir, boot, told](const std::string& name,
                                     const caf::actor& h) {
    bool restart = false;
    {
      std::lock_guard<std::mutex> guard{boot->mtx};
      restart = boot->started.count(name) > 0;
    }
    // The event goes out before the new handle is published, so whoever
    // sees the new handle finds the restart counted.
    if (restart) {
      auto mon = name == "monitor" ? caf::actor_cast<monitor_actor>(h)
                                   : dir->snapshot()->monitor;
      caf::anon_send(mon, event_atom::value,
                     event{event_kind::role_restarted, 0, h.id(), name});
    }
    dir->publish(name, h);
    if (told)
      told(name, h);
    // Counted once published: engine::start returns only when every role
    // has a handle in the directory.
    std::lock_guard<std::mutex> guard{boot->mtx};
    boot->started.insert(name);
    boot->cv.notify_all();
  };
  hooks.on_status = [tree](const child_status& x) { tree->update(x); };
  hooks.on_give_up = [dir, tree](const std::string& sup, const caf::error& e) {
    caf::anon_send(dir->snapshot()->monitor, event_atom::value,
                   event{event_kind::escalated, 0, 0, sup});
    if (sup == "root")
      tree->give_up(describe(e));
  };
  return hooks;
}

/// The roles a task reaches before any has started: the settings they
/// read, the tools in force, and a slot for every role (empty until its
/// supervisor publishes it). Roles supplied by the embedder are theirs to
/// supervise; they are in their slots from the start.
/// The agents of `next` as a catalog over the providers `started` runs
/// (the roster is fixed at the start).
result<std::shared_ptr<const agents::catalog>>
build_agents(const engine_settings& started, const engine_settings& next) {
  agents::engine_defaults defaults;
  defaults.max_steps = next.max_steps;
  defaults.max_tokens = next.budget.max_tokens;
  defaults.timeout = next.timeouts.task;
  defaults.recall_limit = next.memory.recall_limit;
  return agents::catalog::build(
    next.agents, defaults,
    [&started](const std::string& name) { return agent_chain(started, name); });
}

role_set initial_roles(const engine_settings& cfg, const engine_options& opts,
                       std::shared_ptr<tools::catalog> catalog,
                       std::shared_ptr<const guardrail::rules_holder> rules,
                       std::shared_ptr<agents::holder> agents) {
  role_set initial;
  initial.agents = std::move(agents);
  initial.timeouts = cfg.timeouts;
  initial.max_steps = cfg.max_steps;
  initial.max_task_tokens = cfg.budget.max_tokens;
  initial.max_parallel_calls = cfg.max_parallel_calls;
  initial.recall_limit = cfg.memory.recall_limit;
  initial.rules = std::move(rules);
  initial.providers.resize(provider_roster(cfg).size());
  initial.providers[0] = opts.provider;
  initial.primary_supplied = static_cast<bool>(opts.provider);
  initial.tools = opts.tools;
  initial.memory = opts.memory;
  if (opts.planner)
    initial.planners.push_back(opts.planner);
  else
    initial.planners.resize(cfg.planner_workers);
  initial.catalog = std::move(catalog);
  initial.engine_id = guardrail::approval_key::random().hex().substr(0, 16);
  return initial;
}

/// What the roles of the tree start with, besides their names and places:
/// the second step after `plan_supervision`, turning each `role_spec` into
/// the `child_spec` a supervisor runs.
struct role_starter {
  const engine_settings& cfg;
  std::shared_ptr<role_directory> dir;
  /// Short-term memory lives outside its actor so a restart keeps it.
  std::shared_ptr<memory::short_term_store> store;
  std::shared_ptr<memory_setup> msetup;
  std::shared_ptr<guardrail::rules_holder> rules;
  std::shared_ptr<tool_authority> authority;
  std::shared_ptr<tool_executor_setup> executor;
  std::shared_ptr<role_gauges> gauges;
  supervisor_hooks hooks;
  /// HTTP providers share one libcurl I/O thread (and its connections),
  /// made for the first of them.
  std::shared_ptr<llm::http_client> http;

  /// A role's faults (drills) and its mailbox-depth gauge, under its own
  /// name (e.g. planner.1) where instances share one fault spec.
  fault_spec fault(const role_spec& x) {
    auto i = cfg.faults.find(x.kind == role_kind::planner ? "planner" : x.name);
    auto f = i == cfg.faults.end() ? fault_spec{} : i->second;
    f.depth_gauge = gauges->depth(x.name);
    return f;
  }

  /// The supervisor `x` describes, with a start function for each child.
  supervisor_spec supervisor_of(const role_spec& x) {
    supervisor_spec spec;
    spec.name = x.name;
    spec.strategy = x.policy.strategy;
    spec.intensity = x.policy.intensity;
    spec.period = x.policy.period;
    spec.backoff = x.policy.backoff;
    for (auto& c : x.children) {
      child_spec child;
      child.name = c.name;
      child.start = start_of(c);
      child.restart = c.restart;
      child.shutdown = c.shutdown;
      spec.children.push_back(std::move(child));
    }
    return spec;
  }

  /// Spawns the role (or nested supervisor) `x` under the supervisor it is
  /// given; called at its start and at every restart.
  std::function<caf::actor(caf::local_actor*)> start_of(const role_spec& x) {
    switch (x.kind) {
      case role_kind::supervisor:
        return [spec = supervisor_of(x), hooks = hooks](caf::local_actor* sup) {
          return sup->spawn(supervisor, spec, hooks);
        };
      case role_kind::monitor:
        return [](caf::local_actor* sup) {
          return untyped(sup->spawn(monitor_role));
        };
      case role_kind::memory:
        return [store = store, msetup = msetup,
                f = fault(x)](caf::local_actor* sup) {
          return untyped(sup->spawn(memory_role, store, msetup, f));
        };
      case role_kind::guardrail:
        return [rules = rules, authority = authority,
                f = fault(x)](caf::local_actor* sup) {
          return untyped(sup->spawn(guardrail_role, rules, authority, f));
        };
      case role_kind::offline_provider:
        return [name = x.name, f = fault(x)](caf::local_actor* sup) {
          return untyped(sup->spawn(rule_based_provider, name, f));
        };
      case role_kind::http_provider: {
        if (!http)
          http = std::make_shared<llm::http_client>();
        return [name = x.name, settings = provider_settings(cfg, x.index),
                http = http, f = fault(x)](caf::local_actor* sup) {
          return untyped(sup->spawn(http_provider, name, settings, http, f));
        };
      }
      case role_kind::tool_executor:
        return [setup = executor, f = fault(x)](caf::local_actor* sup) {
          return untyped(sup->spawn(tool_executor_role, setup, f));
        };
      case role_kind::planner:
        return [dir = dir, name = x.name, f = fault(x)](caf::local_actor* sup) {
          return untyped(sup->spawn(planner_role, dir, name, f));
        };
      case role_kind::task_manager:
        return [dir = dir](caf::local_actor* sup) {
          return untyped(sup->spawn(task_manager_role, dir));
        };
    }
    assert(false && "a role kind without a start function");
    return {};
  }
};

} // namespace

caf::expected<std::unique_ptr<engine>>
engine::start(caf::actor_system& sys, engine_settings cfg, engine_options opts) {
  if (auto ok = validate(cfg); !ok)
    return make_error(ok.error().code, ok.error().message);
  if (auto ok = preflight(cfg); !ok)
    return make_error(ok.error().code, ok.error().message);
  auto rules = guardrail::load_configured(cfg.guardrail);
  if (!rules)
    return make_error(rules.error().code, rules.error().message);
  // Tool calls: the guardrail signs what the principal may call, the
  // executors run only what it signed.
  auto key =
    opts.approval_key ? *opts.approval_key : guardrail::approval_key::random();
  auto toolset = setup_tools(
    sys, cfg, opts, std::make_shared<guardrail::approval_verifier>(key));
  if (!toolset)
    return make_error(toolset.error().code, toolset.error().message);
  std::unique_ptr<engine> eng{new engine};
  eng->rules_ = *rules;
  // Stopped with the engine, after the roles were told to stop.
  eng->mcp_ = std::move(toolset->mcp);
  auto catalog = build_agents(cfg, cfg);
  if (!catalog)
    return make_error(catalog.error().code, catalog.error().message);
  eng->agents_ = std::make_shared<agents::holder>(std::move(*catalog));
  auto dir = std::make_shared<role_directory>(
    initial_roles(cfg, opts, toolset->catalog, *rules, eng->agents_));
  auto store = std::make_shared<memory::short_term_store>(
    cfg.memory.capacity, cfg.memory.max_sessions);
  auto msetup = std::make_shared<memory_setup>();
  msetup->long_term = long_term_of(cfg);
  msetup->readers = cfg.memory.readers;
  msetup->ttl = cfg.memory.ttl;
  if (cfg.memory.redact_on_store)
    msetup->redact = *rules;
  auto access = std::make_shared<guardrail::access_holder>(cfg.access);
  msetup->access = access;
  if (msetup->long_term && !opts.memory) {
    // Opened once here so a bad, corrupt or locked file is an error at
    // start (naming the file), not a restart loop of the memory role; this
    // also creates the schema the read-only readers need.
    auto opened = memory::long_term_store::open(*msetup->long_term);
    if (!opened)
      return make_error(opened.error().code, opened.error().message);
  }
  auto authority = std::make_shared<tool_authority>(
    tool_authority{access, toolset->catalog, key, cfg.timeouts.task});
  // The tree is planned from the settings alone (see
  // docs/architecture.md), then each role gets its spawn function.
  auto spec = plan_supervision(cfg, opts);
  auto boot = std::make_shared<boot_state>();
  auto tree = std::make_shared<supervision_tree>();
  auto gauges = std::make_shared<role_gauges>();
  auto hooks = make_hooks(dir, boot, tree, opts.on_role_start);
  role_starter starter{.cfg = cfg,
                       .dir = dir,
                       .store = store,
                       .msetup = msetup,
                       .rules = *rules,
                       .authority = authority,
                       .executor = toolset->executor,
                       .gauges = gauges,
                       .hooks = hooks,
                       .http = nullptr};
  auto root = starter.supervisor_of(spec.root);
  auto expected_children = descendants(spec.root);
  eng->tool_setup_ = toolset->executor;
  // Supplied roles are not restarted by the engine, but it stops them.
  if (spec.supplied.provider)
    eng->owned_.push_back(untyped(opts.provider));
  if (spec.supplied.tools)
    eng->owned_.push_back(untyped(opts.tools));
  if (spec.supplied.planner)
    eng->owned_.push_back(untyped(opts.planner));
  if (spec.supplied.memory)
    eng->owned_.push_back(untyped(opts.memory));
  eng->root_ = sys.spawn(supervisor, std::move(root), hooks);
  {
    // The supervisor starts its children when it first runs: wait for that
    // (bounded) so the engine's handles are valid when start returns.
    std::unique_lock<std::mutex> guard{boot->mtx};
    if (!boot->cv.wait_for(guard, cfg.timeouts.role, [&] {
          return boot->started.size() == expected_children;
        }))
      return make_error(errc::role_down,
                        "the engine's roles did not start within " +
                          std::to_string(cfg.timeouts.role.count()) + " ms");
  }
  eng->tree_ = std::move(tree);
  eng->catalog_ = std::move(toolset->catalog);
  eng->directory_ = std::move(dir);
  eng->access_ = std::move(access);
  eng->gauges_ = std::move(gauges);
  eng->cfg_ = std::move(cfg);
  return eng;
}

std::vector<mcp::server_status> engine::mcp_status() const {
  std::vector<mcp::server_status> out;
  for (auto& s : mcp_)
    out.push_back(s->status());
  return out;
}

std::map<std::string, uint64_t> engine::mailbox_depths() const {
  return gauges_->snapshot();
}

result<bool> engine::set_agents(const engine_settings& next) {
  auto built = build_agents(cfg_, next);
  if (!built)
    return built.error();
  agents_->set(std::move(*built));
  cfg_.agents = next.agents;
  return true;
}

void engine::set_access(guardrail::access_config cfg) {
  cfg_.access = cfg;
  access_->set(std::move(cfg));
}

std::vector<child_status> engine::supervision() const {
  return tree_->snapshot();
}

std::optional<std::string> engine::gave_up() const {
  return tree_->gave_up();
}

task_actor engine::tasks() const {
  return directory_->snapshot()->tasks;
}

monitor_actor engine::monitor() const {
  return directory_->snapshot()->monitor;
}

planner_actor engine::planner(uint64_t task_id) const {
  return directory_->snapshot()->planner_for(task_id);
}

plan_request tool_free_request(const agents::agent& a, uint64_t task_id,
                               std::vector<chat_message> messages) {
  plan_request req;
  req.task_id = task_id;
  req.history = std::move(messages);
  req.provider = a.chain.empty() ? 0 : a.chain[0];
  req.model = a.model;
  // No positive pattern: no tool matches.
  req.tools = {"!*"};
  return req;
}

memory_actor engine::memory() const {
  return directory_->snapshot()->memory;
}

tool_executor_actor engine::tools() const {
  return directory_->snapshot()->tools;
}

guardrail_actor engine::guardrail() const {
  return directory_->snapshot()->guardrail;
}

engine::~engine() {
  // The root stops its children in reverse start order, each within its
  // shutdown timeout: the task manager first (it cancels running tasks),
  // the monitor last.
  if (root_)
    caf::anon_send_exit(root_, caf::exit_reason::user_shutdown);
  for (auto& x : owned_)
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
}

} // namespace troupe
