#include "actors/task_manager.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "actors/fail_fast.hpp"

namespace troupe {

std::chrono::milliseconds task_manager_state::tick_interval() const {
  auto t = directory->snapshot()->timeouts.task / 20;
  return std::clamp(t, std::chrono::milliseconds{10},
                    std::chrono::milliseconds{1000});
}

task_manager_actor::behavior_type
task_manager_role(task_manager_actor::stateful_pointer<task_manager_state> self,
                  std::shared_ptr<const role_directory> directory) {
  answer_on_crash(self, "tasks");
  self->state.directory = std::move(directory);
  self->set_down_handler([=](const caf::down_msg& msg) {
    self->state.running.erase(msg.source.id());
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    // Runners are not linked to the manager (a failing task must not take
    // the others down); on shutdown they are told one by one.
    for (auto& [id, task] : self->state.running)
      if (task.runner)
        self->send_exit(task.runner, msg.reason);
    self->quit(msg.reason);
  });
  auto start = [=](task_request& req, caf::actor observer) {
    auto& st = self->state;
    if (req.id == 0)
      req.id = st.next_id++;
    auto roles = st.directory->snapshot();
    // The agent as of now: a reload later does not change a running task.
    auto agent = roles->agents ? roles->agents->get()->find(req.agent)
                               : nullptr;
    auto deadline = std::chrono::steady_clock::now() +
                    (agent ? agent->timeout : roles->timeouts.task);
    auto runner = self->spawn(task_runner_role, std::move(roles), st.directory,
                              std::move(agent));
    self->monitor(runner);
    st.running.emplace(runner.id(), running_task{req.id, deadline, runner});
    if (!st.ticking) {
      st.ticking = true;
      self->delayed_send(self, st.tick_interval(), tick_atom::value);
    }
    return self->delegate(runner, run_atom::value, std::move(req),
                          std::move(observer));
  };
  return {
    [=](run_atom, task_request& req) -> caf::result<task_result> {
      return start(req, caf::actor{});
    },
    [=](run_atom, task_request& req,
        caf::actor& observer) -> caf::result<task_result> {
      return start(req, std::move(observer));
    },
    [=](cancel_atom, uint64_t task_id) {
      // A scan: cancelling is rare next to running.
      for (auto& [id, task] : self->state.running)
        if (task.task_id == task_id && task.runner) {
          self->send_exit(task.runner,
                          make_error(errc::cancelled, "cancelled by request"));
          task.runner = nullptr;
          return true;
        }
      return false;
    },
    [=](tick_atom) {
      auto& st = self->state;
      auto now = std::chrono::steady_clock::now();
      // A scan of the tasks in flight: cheap next to their own work, and
      // memory stays proportional to what runs, not to what ran.
      for (auto& [id, task] : st.running)
        if (task.deadline <= now && task.runner) {
          self->send(task.runner, deadline_atom::value);
          // Told once; the entry goes when the runner ends.
          task.runner = nullptr;
        }
      st.ticking = !st.running.empty();
      if (st.ticking)
        self->delayed_send(self, st.tick_interval(), tick_atom::value);
    },
  };
}

} // namespace troupe
