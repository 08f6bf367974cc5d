#include "actors/provider.hpp"

#include <caf/send.hpp>

#include "actors/fail_fast.hpp"

#include "llm/rule_based.hpp"

namespace troupe {

streaming_provider_actor::behavior_type
rule_based_provider(streaming_provider_actor::stateful_pointer<rule_based_state> self,
                    std::string role, fault_spec faults) {
  answer_on_crash(self, role);
  self->state.faults = fault_injector{std::move(role), faults};
  return {
    [=](complete_atom, const chat_request& req) -> caf::result<chat_response> {
      if (auto r = inject_fault<chat_response>(self, self->state.faults))
        return std::move(*r);
      return llm::rule_based_complete(req);
    },
    [=](complete_atom, const chat_request& req,
        caf::actor& sink) -> caf::result<chat_response> {
      if (auto r = inject_fault<chat_response>(self, self->state.faults))
        return std::move(*r);
      auto answer = llm::rule_based_complete(req);
      // The offline model "streams" its answer a word at a time, as a real
      // one would, so the streaming path is the same offline.
      if (sink && answer.tool_calls.empty())
        for (auto& piece : llm::stream_pieces(answer.content))
          caf::anon_send(sink, token_atom::value, std::move(piece));
      return answer;
    },
  };
}

} // namespace troupe
