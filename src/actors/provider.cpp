#include "actors/provider.hpp"

#include "llm/rule_based.hpp"

namespace troupe {

provider_actor::behavior_type
rule_based_provider(provider_actor::pointer self) {
  return {
    [](complete_atom, const chat_request& req) {
      return llm::rule_based_complete(req);
    },
  };
}

} // namespace troupe
