#include "actors/guardrail.hpp"

#include "actors/fail_fast.hpp"

namespace troupe {

guardrail_actor::behavior_type
guardrail_role(guardrail_actor::stateful_pointer<guardrail_state> self,
               std::shared_ptr<const guardrail::input_filter> input,
               fault_spec faults) {
  answer_on_crash(self, "guardrail");
  self->state.input = std::move(input);
  self->state.faults = fault_injector{"guardrail", faults};
  return {
    [=](check_input_atom, const task_request& req) -> caf::result<verdict> {
      if (auto r = inject_fault<verdict>(self, self->state.faults))
        return std::move(*r);
      return self->state.input->check(req.text);
    },
  };
}

} // namespace troupe
