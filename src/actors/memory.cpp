#include "actors/memory.hpp"

#include "actors/fail_fast.hpp"
#include "actors/long_term_memory.hpp"

#include "memory/tools.hpp"

namespace troupe {

namespace {

using memory_ptr = memory_actor::stateful_pointer<memory_state>;

/// Nothing if `principal` may; otherwise the `forbidden` failure.
std::optional<failure> check(memory_ptr self, const std::string& principal,
                             guardrail::permission p) {
  auto& access = self->state.setup->access;
  if (!access)
    return std::nullopt;
  if (auto why = access->get()->deny_reason(principal, p))
    return failure{errc::forbidden, *why};
  return std::nullopt;
}

/// `text` as it may be stored: with `memory.redact_on_store`, masked by the
/// guardrail's redact rules, and refused if a block rule matches.
result<std::string> storable(memory_ptr self, const std::string& text) {
  auto& rules = self->state.setup->redact;
  if (!rules)
    return text;
  return guardrail::storable(rules->current(), text);
}

const memory_reader_actor& next_reader(memory_ptr self) {
  auto& st = self->state;
  return st.readers[st.next_reader++ % st.readers.size()];
}

} // namespace

memory_actor::behavior_type
memory_role(memory_actor::stateful_pointer<memory_state> self,
            shared_store store, std::shared_ptr<const memory_setup> setup,
            fault_spec faults) {
  answer_on_crash(self, "memory");
  auto& st = self->state;
  st.store = std::move(store);
  st.setup = std::move(setup);
  st.faults = fault_injector{"memory", faults};
  if (auto& lt = st.setup->long_term) {
    // Linked both ways: a writer or reader that fails takes the memory role
    // down, and its supervisor restarts all of them together.
    st.writer = self->spawn<caf::detached + caf::linked>(memory_writer, *lt);
    for (uint32_t i = 0; i < std::max<uint32_t>(st.setup->readers, 1); ++i)
      st.readers.push_back(
        self->spawn<caf::detached + caf::linked>(memory_reader, *lt));
  }
  return {
    [=](store_atom, const std::string& session,
        const std::string& text) -> caf::result<uint64_t> {
      if (auto r = inject_fault<uint64_t>(self, self->state.faults))
        return std::move(*r);
      if (text.empty())
        return make_error(errc::invalid_input, "cannot store an empty text");
      auto safe = storable(self, text);
      if (!safe)
        return make_error(safe.error().code, safe.error().message);
      return self->state.store->store(session, *safe);
    },
    [=](recall_atom,
        recall_query& q) -> caf::result<std::vector<memory_hit>> {
      if (auto r =
            inject_fault<std::vector<memory_hit>>(self, self->state.faults))
        return std::move(*r);
      if (auto denied = check(self, q.principal, guardrail::permission::read_memory))
        return make_error(denied->code, denied->message);
      auto session = self->state.store->recall(q.session, q.query, q.limit);
      if (self->state.readers.empty())
        return session;
      return self->delegate(next_reader(self), recall_atom::value, std::move(q),
                            std::move(session));
    },
    [=](call_atom, tool_invocation& inv) -> caf::result<tool_result> {
      if (auto r = inject_fault<tool_result>(self, self->state.faults))
        return std::move(*r);
      auto& st = self->state;
      auto call = memory::parse_call(inv);
      if (!call)
        return memory::tool_output(inv, call.error());
      auto needs = call->what == memory::memory_call::store
                     ? guardrail::permission::write_memory
                     : guardrail::permission::read_memory;
      if (auto denied = check(self, inv.principal, needs))
        return memory::tool_output(inv, *denied);
      if (call->what == memory::memory_call::store) {
        auto safe = storable(self, call->text);
        if (!safe)
          return memory::tool_output(inv, safe.error());
        call->text = std::move(*safe);
        auto id = st.store->store(inv.session, call->text);
        if (!st.writer)
          return memory::tool_output(inv,
                                     memory::stored_json(id, call->text, false));
        // Promoted to long-term memory: answered once committed.
        memory::record rec;
        rec.ns = memory::memory_namespace(inv.principal, inv.agent);
        rec.text = call->text;
        rec.created_ms = memory::now_ms();
        if (st.setup->ttl.count() > 0)
          rec.expires_ms = rec.created_ms + st.setup->ttl.count();
        rec.source_task = inv.task_id;
        return self->delegate(st.writer, store_atom::value, std::move(rec),
                              std::move(inv));
      }
      auto session = st.store->recall(inv.session, call->text, call->limit);
      if (st.readers.empty())
        return memory::tool_output(inv,
                                   memory::recalled_json(call->text, session));
      return self->delegate(next_reader(self), call_atom::value, std::move(inv),
                            std::move(session));
    },
  };
}

} // namespace troupe
