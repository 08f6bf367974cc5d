#include "actors/planner.hpp"

namespace troupe {

planner_actor::behavior_type
planner_role(planner_actor::stateful_pointer<planner_state> self,
             provider_actor provider, std::vector<tool_spec> tools) {
  self->state.provider = std::move(provider);
  self->state.tools = std::move(tools);
  return {
    [=](plan_atom, plan_request& req) -> caf::result<chat_response> {
      return self->delegate(
        self->state.provider, complete_atom::value,
        chat_request{std::move(req.history), self->state.tools});
    },
  };
}

} // namespace troupe
