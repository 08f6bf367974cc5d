#include "actors/memory.hpp"

#include "actors/fail_fast.hpp"

#include "memory/tools.hpp"

namespace troupe {

memory_actor::behavior_type
memory_role(memory_actor::stateful_pointer<memory_state> self,
            shared_store store, fault_spec faults) {
  answer_on_crash(self, "memory");
  self->state.store = std::move(store);
  self->state.faults = fault_injector{"memory", faults};
  return {
    [=](store_atom, const std::string& session,
        const std::string& text) -> caf::result<uint64_t> {
      if (auto r = inject_fault<uint64_t>(self, self->state.faults))
        return std::move(*r);
      if (text.empty())
        return make_error(errc::invalid_input, "cannot store an empty text");
      return self->state.store->store(session, text);
    },
    [=](recall_atom,
        const recall_query& q) -> caf::result<std::vector<memory_hit>> {
      if (auto r = inject_fault<std::vector<memory_hit>>(self, self->state.faults))
        return std::move(*r);
      return self->state.store->recall(q.session, q.query, q.limit);
    },
    [=](call_atom, const tool_invocation& inv) -> caf::result<tool_result> {
      if (auto r = inject_fault<tool_result>(self, self->state.faults))
        return std::move(*r);
      return memory::run_tool(*self->state.store, inv);
    },
  };
}

} // namespace troupe
