#include "actors/tool_executor.hpp"

#include "actors/fail_fast.hpp"

#include "core/json.hpp"
#include "memory/long_term.hpp"

#include <caf/system_messages.hpp>

namespace troupe {

namespace {

/// Runs calls in place: the body of a worker, and of a one-worker executor.
tool_executor_actor::behavior_type
tool_worker(tool_executor_actor::stateful_pointer<tool_executor_state> self,
            std::shared_ptr<const tools::registry> registry,
            std::shared_ptr<guardrail::approval_verifier> verifier,
            fault_spec faults) {
  answer_on_crash(self, "tools");
  self->state.registry = std::move(registry);
  self->state.verifier = std::move(verifier);
  self->state.faults = fault_injector{"tools", faults};
  return {
    [=](call_atom, const tool_invocation& inv) -> caf::result<tool_result> {
      if (auto r = inject_fault<tool_result>(self, self->state.faults))
        return std::move(*r);
      // No approved call, no run: whatever sent it (a planner bug, a
      // remote node, a forged or replayed message).
      if (auto ok = self->state.verifier->verify(inv, memory::now_ms()); !ok) {
        tool_result refused;
        refused.call_id = inv.call.id;
        refused.name = inv.call.name;
        refused.output = error_json(ok.error());
        return refused;
      }
      tools::context ctx{inv.task_id, inv.session, inv.principal};
      return self->state.registry->invoke(inv.call, ctx);
    },
    [=](list_atom) { return self->state.registry->specs(); },
  };
}

} // namespace

tool_executor_actor::behavior_type tool_executor_role(
  tool_executor_actor::stateful_pointer<tool_executor_state> self,
  std::shared_ptr<const tools::registry> registry, size_t workers,
  std::shared_ptr<guardrail::approval_verifier> verifier, fault_spec faults) {
  if (workers <= 1)
    return tool_worker(self, std::move(registry), std::move(verifier), faults);
  self->state.registry = registry;
  // Linked: a worker that dies takes the executor down with it, so a
  // supervisor sees one failure instead of a silently shrunken pool.
  for (size_t i = 0; i < workers; ++i)
    self->state.workers.push_back(
      self->spawn<caf::linked>(tool_worker, registry, verifier, faults));
  return {
    [=](call_atom, tool_invocation& inv) -> caf::result<tool_result> {
      auto& st = self->state;
      // Round robin: the calls of one step land on different workers and
      // run in parallel.
      auto& w = st.workers[st.next_worker++ % st.workers.size()];
      return self->delegate(w, call_atom::value, std::move(inv));
    },
    [=](list_atom) { return self->state.registry->specs(); },
  };
}

tool_executor_actor::behavior_type remote_tools_role(
  tool_executor_actor::stateful_pointer<remote_tools_state> self,
  tool_executor_actor remote, std::string where,
  std::chrono::milliseconds timeout) {
  self->state.remote = remote;
  self->state.where = std::move(where);
  self->monitor(remote);
  self->set_down_handler([=](const caf::down_msg& msg) {
    auto& st = self->state;
    if (msg.source != st.remote.address())
      return;
    st.down = true;
    auto err =
      make_error(errc::role_down, "tool node " + st.where + " is down");
    for (auto& [id, rp] : st.pending)
      rp.deliver(err);
    st.pending.clear();
  });
  // Stopping must not strand callers: pending calls fail with role_down.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    auto err =
      make_error(errc::role_down, "the tool node front for " +
                                    self->state.where + " is shutting down");
    for (auto& [id, rp] : self->state.pending)
      rp.deliver(err);
    self->state.pending.clear();
    self->quit(msg.reason);
  });
  auto lost = [=] {
    return make_error(errc::role_down,
                      "tool node " + self->state.where + " is down");
  };
  return {
    [=](call_atom, tool_invocation& inv) -> caf::result<tool_result> {
      auto& st = self->state;
      if (st.down)
        return lost();
      auto id = st.next_id++;
      auto rp = self->make_response_promise<tool_result>();
      st.pending.emplace(id, rp);
      // Exactly one of reply, error, or down handler delivers: whoever comes
      // first erases the entry, the others find nothing to do.
      auto settle = [=](auto&& value) {
        auto i = self->state.pending.find(id);
        if (i == self->state.pending.end())
          return;
        i->second.deliver(std::forward<decltype(value)>(value));
        self->state.pending.erase(i);
      };
      self->request(st.remote, timeout, call_atom::value, std::move(inv))
        .then([=](tool_result& r) mutable { settle(std::move(r)); },
              [=](caf::error& e) mutable { settle(std::move(e)); });
      return rp;
    },
    [=](list_atom) -> caf::result<std::vector<tool_spec>> {
      if (self->state.down)
        return lost();
      return self->delegate(self->state.remote, list_atom::value);
    },
  };
}

} // namespace troupe
