#include "actors/provider.hpp"

#include "actors/fail_fast.hpp"

#include "llm/rule_based.hpp"

namespace troupe {

provider_actor::behavior_type
rule_based_provider(provider_actor::pointer self) {
  answer_on_crash(self, "provider");
  return {
    [](complete_atom, const chat_request& req) {
      return llm::rule_based_complete(req);
    },
  };
}

} // namespace troupe
