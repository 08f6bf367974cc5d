#include "actors/guardrail.hpp"

#include "actors/fail_fast.hpp"

namespace troupe {

guardrail_actor::behavior_type
guardrail_role(guardrail_actor::stateful_pointer<guardrail_state> self,
               std::shared_ptr<const guardrail::input_filter> input) {
  answer_on_crash(self, "guardrail");
  self->state.input = std::move(input);
  return {
    [=](check_input_atom, const task_request& req) {
      return self->state.input->check(req.text);
    },
  };
}

} // namespace troupe
