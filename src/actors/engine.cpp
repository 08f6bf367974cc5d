#include "actors/engine.hpp"

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/guardrail.hpp"
#include "actors/memory.hpp"
#include "actors/monitor.hpp"
#include "actors/planner.hpp"
#include "actors/provider.hpp"
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

caf::expected<std::unique_ptr<engine>>
engine::start(caf::actor_system& sys, engine_config cfg, engine_options opts) {
  if (auto ok = validate(cfg); !ok)
    return make_error(ok.error().code, ok.error().message);
  auto filter = guardrail::input_filter::make(cfg.guardrail);
  if (!filter)
    return make_error(filter.error().code, filter.error().message);
  std::unique_ptr<engine> eng{new engine};
  auto r = std::make_shared<role_set>();
  r->timeouts = cfg.timeouts;
  r->max_steps = cfg.max_steps;
  r->max_parallel_calls = cfg.max_parallel_calls;
  // Start order: monitor first (everyone reports to it), then the roles
  // the planner depends on, then the planner, then the task entry point.
  r->monitor = sys.spawn(monitor_role);
  r->memory =
    sys.spawn(memory_role, cfg.memory_capacity, cfg.memory_max_sessions);
  r->guardrail = sys.spawn(guardrail_role, std::move(*filter));
  std::vector<tool_spec> specs;
  if (opts.tools) {
    r->tools = opts.tools;
    caf::scoped_actor self{sys};
    caf::error err;
    self->request(r->tools, cfg.timeouts.role, list_atom::value)
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
    specs = (*reg)->specs();
    r->tools =
      sys.spawn(tool_executor_role, std::move(*reg), size_t{cfg.tool_workers});
  }
  for (auto& s : memory::tool_specs())
    specs.push_back(std::move(s));
  eng->provider_ =
    opts.provider ? opts.provider : sys.spawn(rule_based_provider);
  r->planner = sys.spawn(planner_role, eng->provider_, specs);
  eng->tasks_ = sys.spawn(task_manager_role, r);
  eng->tool_specs_ = std::move(specs);
  eng->roles_ = std::move(r);
  eng->cfg_ = std::move(cfg);
  return eng;
}

monitor_actor engine::monitor() const {
  return roles_->monitor;
}

memory_actor engine::memory() const {
  return roles_->memory;
}

tool_executor_actor engine::tools() const {
  return roles_->tools;
}

engine::~engine() {
  // Exit messages go out in reverse start order: the task manager first
  // (it cancels the running tasks), the monitor last. They are not awaited:
  // proper shutdown with per-child timeouts comes with supervision.
  auto stop = [](const auto& handle) {
    if (handle)
      caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  };
  stop(tasks_);
  if (roles_) {
    stop(roles_->planner);
    stop(provider_);
    stop(roles_->tools);
    stop(roles_->guardrail);
    stop(roles_->memory);
    stop(roles_->monitor);
  }
}

} // namespace troupe
