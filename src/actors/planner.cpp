#include "actors/planner.hpp"

#include <caf/actor_cast.hpp>

#include "actors/fail_fast.hpp"
#include "agents/settings.hpp"

namespace troupe {

planner_actor::behavior_type
planner_role(planner_actor::stateful_pointer<planner_state> self,
             std::shared_ptr<const role_directory> directory,
             std::string role, fault_spec faults) {
  answer_on_crash(self, role);
  self->state.directory = std::move(directory);
  self->state.faults = fault_injector{std::move(role), faults};
  auto plan = [=](plan_request& req,
                  caf::actor sink) -> caf::result<chat_response> {
    if (auto r = inject_fault<chat_response>(self, self->state.faults))
      return std::move(*r);
    // The runner picks the provider: it moves down the fallback chain
    // when one is down.
    auto roles = self->state.directory->snapshot();
    auto& chain = roles->providers;
    if (chain.empty())
      return make_error(errc::provider_failed, "no model provider is set");
    auto& provider = chain[std::min<size_t>(req.provider, chain.size() - 1)];
    // The agent's tools only (the guardrail still checks each call
    // against the principal's permissions).
    auto offered = roles->catalog->snapshot()->spec_list();
    if (!req.tools.empty()) {
      std::vector<tool_spec> kept;
      for (auto& t : offered.get())
        if (agents::tool_allowed(req.tools, t.name))
          kept.push_back(t);
      offered = tool_list{std::move(kept)};
    }
    chat_request creq{std::move(req.history), std::move(offered),
                      std::move(req.model), std::move(req.response_schema)};
    // The engine's own providers stream; the embedder's may not.
    if (sink && !(req.provider == 0 && roles->primary_supplied))
      return self->delegate(caf::actor_cast<streaming_provider_actor>(provider),
                            complete_atom::value, std::move(creq),
                            std::move(sink));
    return self->delegate(provider, complete_atom::value, std::move(creq));
  };
  return {
    [=](plan_atom, plan_request& req) -> caf::result<chat_response> {
      return plan(req, caf::actor{});
    },
    [=](plan_atom, plan_request& req,
        caf::actor& sink) -> caf::result<chat_response> {
      return plan(req, std::move(sink));
    },
  };
}

} // namespace troupe
