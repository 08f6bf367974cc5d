#include "actors/engine.hpp"

#include <condition_variable>
#include <mutex>
#include <set>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/guardrail.hpp"
#include "actors/memory.hpp"
#include "actors/monitor.hpp"
#include "actors/planner.hpp"
#include "actors/provider.hpp"
#include "actors/supervisor.hpp"
#include "actors/task_runner.hpp"
#include "actors/tool_executor.hpp"
#include "memory/tools.hpp"
#include "tools/calculator.hpp"
#include "tools/file_reader.hpp"

namespace troupe {

result<std::shared_ptr<const tools::registry>>
make_tool_registry(const engine_config& cfg, std::vector<tools::entry> extra) {
  auto reg = std::make_shared<tools::registry>();
  tools::file_reader_config fcfg{cfg.workspace, cfg.max_file_bytes};
  if (auto ok = tools::validate(fcfg); !ok)
    return ok.error();
  std::vector<tools::entry> all{tools::calculator_tool(),
                                tools::file_reader_tool(fcfg)};
  for (auto& e : extra)
    all.push_back(std::move(e));
  for (auto& e : all) {
    if (memory::is_memory_tool(e.spec.name))
      return failure{errc::invalid_config,
                     "tool name '" + e.spec.name + "' is reserved for memory"};
    if (auto ok = reg->add(std::move(e)); !ok)
      return ok.error();
  }
  return std::shared_ptr<const tools::registry>{std::move(reg)};
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

} // namespace

caf::expected<std::unique_ptr<engine>>
engine::start(caf::actor_system& sys, engine_config cfg, engine_options opts) {
  if (auto ok = validate(cfg); !ok)
    return make_error(ok.error().code, ok.error().message);
  auto filter = guardrail::input_filter::make(cfg.guardrail);
  if (!filter)
    return make_error(filter.error().code, filter.error().message);
  std::unique_ptr<engine> eng{new engine};
  role_set initial;
  initial.timeouts = cfg.timeouts;
  initial.max_steps = cfg.max_steps;
  initial.max_parallel_calls = cfg.max_parallel_calls;
  // Roles supplied by the embedder are theirs to supervise.
  initial.provider = opts.provider;
  initial.tools = opts.tools;
  auto dir = std::make_shared<role_directory>(std::move(initial));
  std::vector<tool_spec> specs;
  std::shared_ptr<const tools::registry> registry;
  if (opts.tools) {
    caf::scoped_actor self{sys};
    caf::error err;
    self->request(opts.tools, cfg.timeouts.role, list_atom::value)
      .receive([&](std::vector<tool_spec>& xs) { specs = std::move(xs); },
               [&](caf::error& e) { err = std::move(e); });
    if (err)
      return make_error(code_of(err),
                        "cannot list the tools of the tool executor: " +
                          describe(err));
  } else {
    auto reg = make_tool_registry(cfg, std::move(opts.extra_tools));
    if (!reg)
      return make_error(reg.error().code, reg.error().message);
    registry = std::move(*reg);
    specs = registry->specs();
  }
  for (auto& s : memory::tool_specs())
    specs.push_back(std::move(s));
  // The tree of DESIGN.md, flattened under one one_for_one root for now:
  // monitor first (everyone reports to it), then the roles the planner and
  // the runners depend on, then the planner, then the task entry point.
  // Short-term memory lives outside its actor so a restart keeps it.
  auto store = std::make_shared<memory::short_term_store>(
    cfg.memory_capacity, cfg.memory_max_sessions);
  auto input_filter = std::move(*filter);
  supervisor_spec root;
  root.name = "root";
  root.strategy = cfg.supervision.strategy;
  root.intensity = cfg.supervision.intensity;
  root.period = cfg.supervision.period;
  root.backoff = cfg.supervision.backoff;
  auto add = [&](std::string name,
                 std::function<caf::actor(caf::local_actor*)> f) {
    child_spec c;
    c.name = std::move(name);
    c.start = std::move(f);
    c.shutdown = cfg.supervision.shutdown;
    root.children.push_back(std::move(c));
  };
  add("monitor",
      [](caf::local_actor* sup) { return untyped(sup->spawn(monitor_role)); });
  auto fault = [&](const char* role) {
    auto i = cfg.faults.find(role);
    return i == cfg.faults.end() ? fault_spec{} : i->second;
  };
  add("memory", [store, f = fault("memory")](caf::local_actor* sup) {
    return untyped(sup->spawn(memory_role, store, f));
  });
  add("guardrail",
      [input_filter, f = fault("guardrail")](caf::local_actor* sup) {
        return untyped(sup->spawn(guardrail_role, input_filter, f));
      });
  if (!opts.provider)
    add("provider", [f = fault("provider")](caf::local_actor* sup) {
      return untyped(sup->spawn(rule_based_provider, f));
    });
  if (!opts.tools) {
    auto workers = size_t{cfg.tool_workers};
    add("tools",
        [registry, workers, f = fault("tools")](caf::local_actor* sup) {
          return untyped(sup->spawn(tool_executor_role, registry, workers, f));
        });
  }
  add("planner", [dir, specs, f = fault("planner")](caf::local_actor* sup) {
    return untyped(sup->spawn(planner_role, dir, specs, f));
  });
  add("tasks", [dir](caf::local_actor* sup) {
    return untyped(sup->spawn(task_manager_role, dir));
  });
  auto boot = std::make_shared<boot_state>();
  auto expected_children = root.children.size();
  auto on_start = [dir, boot](const std::string& name, const caf::actor& h) {
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
    // Counted once published: engine::start returns only when every role
    // has a handle in the directory.
    std::lock_guard<std::mutex> guard{boot->mtx};
    boot->started.insert(name);
    boot->cv.notify_all();
  };
  // Supplied roles are not restarted by the engine, but it stops them.
  if (opts.provider)
    eng->owned_.push_back(untyped(opts.provider));
  if (opts.tools)
    eng->owned_.push_back(untyped(opts.tools));
  eng->root_ = sys.spawn(supervisor, std::move(root), std::move(on_start));
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
  eng->tool_specs_ = std::move(specs);
  eng->directory_ = std::move(dir);
  eng->cfg_ = std::move(cfg);
  return eng;
}

task_actor engine::tasks() const {
  return directory_->snapshot()->tasks;
}

monitor_actor engine::monitor() const {
  return directory_->snapshot()->monitor;
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
