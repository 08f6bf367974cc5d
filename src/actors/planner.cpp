#include "actors/planner.hpp"

#include "actors/fail_fast.hpp"

namespace troupe {

planner_actor::behavior_type
planner_role(planner_actor::stateful_pointer<planner_state> self,
             std::shared_ptr<const role_directory> directory,
             std::string role, fault_spec faults) {
  answer_on_crash(self, role);
  self->state.directory = std::move(directory);
  self->state.faults = fault_injector{std::move(role), faults};
  return {
    [=](plan_atom, plan_request& req) -> caf::result<chat_response> {
      if (auto r = inject_fault<chat_response>(self, self->state.faults))
        return std::move(*r);
      // The runner picks the provider: it moves down the fallback chain
      // when one is down.
      auto roles = self->state.directory->snapshot();
      auto& chain = roles->providers;
      if (chain.empty())
        return make_error(errc::provider_failed, "no model provider is set");
      auto& provider = chain[std::min<size_t>(req.provider, chain.size() - 1)];
      return self->delegate(provider, complete_atom::value,
        chat_request{std::move(req.history),
                     roles->catalog->snapshot()->spec_list()});
    },
  };
}

} // namespace troupe
