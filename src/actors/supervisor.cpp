#include "actors/supervisor.hpp"

#include <set>

#include <caf/system_messages.hpp>

#include <spdlog/spdlog.h>

#include "core/log.hpp"

namespace troupe {

const char* to_string(restart_type x) noexcept {
  switch (x) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "unknown";
}

result<bool> validate(const supervisor_spec& spec) {
  auto bad = [&](std::string msg) {
    return failure{errc::invalid_config,
                   "supervisor '" + spec.name + "': " + std::move(msg)};
  };
  if (spec.period.count() <= 0)
    return bad("period must be > 0 ms, got " +
               std::to_string(spec.period.count()));
  if (spec.backoff.count() < 0)
    return bad("backoff must be >= 0 ms, got " +
               std::to_string(spec.backoff.count()));
  std::set<std::string> names;
  for (auto& c : spec.children) {
    if (c.name.empty())
      return bad("a child has no name");
    if (!names.insert(c.name).second)
      return bad("child name '" + c.name + "' is used twice");
    if (!c.start)
      return bad("child '" + c.name + "' has no start function");
    if (c.shutdown.count() <= 0)
      return bad("child '" + c.name + "': shutdown must be > 0 ms, got " +
                 std::to_string(c.shutdown.count()));
  }
  return true;
}

namespace {

using sup_ptr = caf::stateful_actor<supervisor_state>*;

child_status status_of(sup_ptr self, const child_slot& c, std::string state) {
  return child_status{c.spec.name,        static_cast<bool>(c.handle),
                      c.restarts,         self->state.spec.name,
                      std::move(state),   c.last_exit};
}

void report(sup_ptr self, child_slot& c, std::string state) {
  c.state = std::move(state);
  if (self->state.hooks.on_status)
    self->state.hooks.on_status(status_of(self, c, c.state));
}

void start_child(sup_ptr self, size_t i) {
  auto& c = self->state.children[i];
  if (c.started)
    ++c.restarts;
  c.started = true;
  c.stopping = false;
  ++c.generation;
  c.handle = c.spec.start(self);
  self->monitor(c.handle);
  report(self, c, "running");
  if (self->state.hooks.on_start)
    self->state.hooks.on_start(c.spec.name, c.handle);
}

/// Stops the next child of the stop queue, or runs the continuation.
void stop_next(sup_ptr self) {
  auto& st = self->state;
  while (!st.stop_queue.empty()) {
    auto i = st.stop_queue.front();
    auto& c = st.children[i];
    if (!c.handle) {
      st.stop_queue.pop_front();
      continue;
    }
    if (!c.stopping) {
      c.stopping = true;
      self->send_exit(c.handle, st.stop_reason
                                  ? st.stop_reason
                                  : caf::error{caf::exit_reason::user_shutdown});
      self->delayed_send(self, c.spec.shutdown, shutdown_atom::value,
                         uint64_t{i}, c.generation);
    }
    // Wait for its down message (or the kill timer) before the next one.
    return;
  }
  if (auto k = std::move(st.after_stop)) {
    st.after_stop = nullptr;
    k();
  }
}

/// Stops `indices` one after another (in the order given), then runs `k`.
void stop_children(sup_ptr self, std::vector<size_t> indices,
                   std::function<void()> k) {
  auto& st = self->state;
  st.stop_queue.assign(indices.begin(), indices.end());
  st.after_stop = std::move(k);
  stop_next(self);
}

/// All children from `first` on, in reverse start order.
std::vector<size_t> reverse_from(sup_ptr self, size_t first) {
  std::vector<size_t> out;
  for (size_t i = self->state.children.size(); i > first; --i)
    out.push_back(i - 1);
  return out;
}

/// Starts the children waiting for a (re)start, in order.
void run_pending_starts(sup_ptr self) {
  auto& st = self->state;
  if (st.shutting_down)
    return;
  auto to_start = std::move(st.pending_starts);
  st.pending_starts.clear();
  for (auto i : to_start)
    if (!st.children[i].handle)
      start_child(self, i);
}

/// Starts `indices` (in order) after the backoff.
void schedule_starts(sup_ptr self, std::vector<size_t> indices) {
  auto& st = self->state;
  st.pending_starts = std::move(indices);
  if (st.spec.backoff.count() == 0)
    run_pending_starts(self);
  else
    self->delayed_send(self, st.spec.backoff, restart_atom::value);
}

/// Stops every child in reverse order, then exits with `reason`. The
/// children get `reason` too, so a task cancelled by an escalation says why.
void shut_down(sup_ptr self, caf::error reason) {
  auto& st = self->state;
  st.shutting_down = true;
  st.stop_reason = reason;
  st.pending_starts.clear();
  stop_children(self, reverse_from(self, 0),
                [self, reason]() mutable { self->quit(std::move(reason)); });
}

/// Records a restart; false if that exceeds the intensity.
bool record_restart(sup_ptr self) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  while (!st.restart_times.empty() &&
         now - st.restart_times.front() > st.spec.period)
    st.restart_times.pop_front();
  st.restart_times.push_back(now);
  return st.restart_times.size() <= st.spec.intensity;
}

bool abnormal(const caf::error& reason) {
  return reason && reason != caf::exit_reason::normal &&
         reason != caf::exit_reason::user_shutdown;
}

/// One JSON line per child that ended: why, and what happens next.
void log_exit(sup_ptr self, const child_slot& c, const char* action) {
  auto lg = log::get();
  // A stop the supervisor asked for is routine (debug); a child that ended
  // on its own and stays down is news (info); restarts and giving up are
  // warnings.
  auto lvl = std::string_view{action} == "shutdown" ? spdlog::level::debug
             : std::string_view{action} == "stop"   ? spdlog::level::info
                                                    : spdlog::level::warn;
  if (!lg->should_log(lvl))
    return;
  lg->log(lvl,
          R"("event":"child_exited","supervisor":{},"child":{},"reason":{},)"
          R"("restarts":{},"action":"{}")",
          log::quote(self->state.spec.name), log::quote(c.spec.name),
          log::quote(c.last_exit), c.restarts, action);
}

void on_child_down(sup_ptr self, size_t i, const caf::error& reason) {
  auto& st = self->state;
  auto& c = st.children[i];
  c.handle = nullptr;
  c.last_exit = reason ? describe(reason) : "normal";
  if (c.stopping) {
    c.stopping = false;
    log_exit(self, c, "shutdown");
    report(self, c, "stopped");
    if (!st.stop_queue.empty() && st.stop_queue.front() == i)
      st.stop_queue.pop_front();
    stop_next(self);
    return;
  }
  if (st.shutting_down) {
    report(self, c, "stopped");
    return;
  }
  bool restart =
    c.spec.restart == restart_type::permanent ||
    (c.spec.restart == restart_type::transient && abnormal(reason));
  if (!restart) {
    log_exit(self, c, "stop");
    report(self, c, "stopped");
    return;
  }
  if (!record_restart(self)) {
    log_exit(self, c, "give_up");
    report(self, c, "stopped");
    auto err =
      make_error(errc::role_down,
                 "supervisor '" + st.spec.name + "' gave up: more than " +
                   std::to_string(st.spec.intensity) + " restarts in " +
                   std::to_string(st.spec.period.count()) +
                   " ms, the last of child '" + c.spec.name + "' (" +
                   c.last_exit + ")");
    log::get()->error(R"("event":"supervisor_gave_up","supervisor":{},)"
                      R"("reason":{})",
                      log::quote(st.spec.name), log::quote(describe(err)));
    if (st.hooks.on_give_up)
      st.hooks.on_give_up(st.spec.name, err);
    shut_down(self, std::move(err));
    return;
  }
  log_exit(self, c, "restart");
  report(self, c, "restarting");
  switch (st.spec.strategy) {
    case restart_strategy::one_for_one:
      schedule_starts(self, {i});
      break;
    case restart_strategy::one_for_all:
    case restart_strategy::rest_for_one: {
      size_t first = st.spec.strategy == restart_strategy::one_for_all ? 0 : i;
      stop_children(self, reverse_from(self, first), [self, first] {
        std::vector<size_t> to_start;
        for (size_t j = first; j < self->state.children.size(); ++j)
          to_start.push_back(j);
        schedule_starts(self, std::move(to_start));
      });
      break;
    }
  }
}

} // namespace

caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self,
                         supervisor_spec spec, supervisor_hooks hooks) {
  auto& st = self->state;
  st.hooks = std::move(hooks);
  for (auto& c : spec.children) {
    child_slot slot;
    slot.spec = c;
    st.children.push_back(std::move(slot));
  }
  st.spec = std::move(spec);
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& children = self->state.children;
    for (size_t i = 0; i < children.size(); ++i)
      if (children[i].handle && children[i].handle.address() == msg.source) {
        on_child_down(self, i, msg.reason);
        return;
      }
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    if (!self->state.shutting_down)
      shut_down(self, msg.reason);
  });
  for (size_t i = 0; i < st.children.size(); ++i)
    start_child(self, i);
  return {
    [=](shutdown_atom, uint64_t i, uint64_t generation) {
      // A child that ignored its exit message past its shutdown timeout.
      auto& children = self->state.children;
      if (i < children.size() && children[i].generation == generation &&
          children[i].stopping && children[i].handle)
        self->send_exit(children[i].handle, caf::exit_reason::kill);
    },
    [=](restart_atom) { run_pending_starts(self); },
    [=](status_atom) {
      std::vector<child_status> out;
      for (auto& c : self->state.children)
        out.push_back(status_of(self, c, c.state));
      return out;
    },
  };
}

} // namespace troupe
