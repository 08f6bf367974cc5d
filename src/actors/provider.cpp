#include "actors/provider.hpp"

#include "actors/fail_fast.hpp"

#include "llm/rule_based.hpp"

namespace troupe {

provider_actor::behavior_type
rule_based_provider(provider_actor::stateful_pointer<rule_based_state> self,
                    fault_spec faults) {
  answer_on_crash(self, "provider");
  self->state.faults = fault_injector{"provider", faults};
  return {
    [=](complete_atom, const chat_request& req) {
      self->state.faults.tick();
      return llm::rule_based_complete(req);
    },
  };
}

} // namespace troupe
