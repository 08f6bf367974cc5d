#include "actors/provider.hpp"

#include "actors/fail_fast.hpp"

#include "llm/rule_based.hpp"

namespace troupe {

provider_actor::behavior_type
rule_based_provider(provider_actor::stateful_pointer<rule_based_state> self,
                    std::string role, fault_spec faults) {
  answer_on_crash(self, role);
  self->state.faults = fault_injector{std::move(role), faults};
  return {
    [=](complete_atom, const chat_request& req) -> caf::result<chat_response> {
      if (auto r = inject_fault<chat_response>(self, self->state.faults))
        return std::move(*r);
      return llm::rule_based_complete(req);
    },
  };
}

} // namespace troupe
