#include "actors/long_term_memory.hpp"

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "memory/tools.hpp"

namespace troupe {

namespace {

/// Compaction (expiry, caps) runs after this many stores.
constexpr uint64_t compaction_interval = 10000;

template <class Self>
bool open_or_quit(Self* self, const memory::long_term_config& cfg,
                  memory::long_term_store::mode m) {
  auto store = memory::long_term_store::open(cfg, m);
  if (!store) {
    self->quit(make_error(store.error().code, store.error().message));
    return false;
  }
  self->state.store = std::move(*store);
  return true;
}

void flush(memory_writer_actor::stateful_pointer<memory_writer_state> self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  auto batch = std::move(st.batch);
  st.batch.clear();
  if (batch.empty())
    return;
  std::vector<memory::record> records;
  records.reserve(batch.size());
  for (auto& p : batch)
    records.push_back(std::move(p.rec));
  auto ids = st.store->insert(records);
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& p = batch[i];
    if (ids)
      p.promise.deliver(memory::tool_output(
        p.inv, memory::stored_json((*ids)[i], records[i].text, true)));
    else
      p.promise.deliver(memory::tool_output(p.inv, ids.error()));
  }
  if (!ids) {
    log::get()->error(R"("event":"memory_write_failed","count":{},"error":{})",
                      batch.size(), log::quote(ids.error().message));
    return;
  }
  st.since_compaction += batch.size();
  if (st.since_compaction >= compaction_interval) {
    st.since_compaction = 0;
    if (auto c = st.store->compact(); !c)
      log::get()->warn(R"("event":"memory_compaction_failed","error":{})",
                       log::quote(c.error().message));
  }
}

std::vector<memory_hit> to_hits(const std::vector<memory::ranked>& xs) {
  std::vector<memory_hit> out;
  out.reserve(xs.size());
  for (auto& x : xs)
    out.push_back(memory_hit{x.rec.id, x.rec.text, x.score, "long_term"});
  return out;
}

} // namespace

memory_writer_actor::behavior_type
memory_writer(memory_writer_actor::stateful_pointer<memory_writer_state> self,
              memory::long_term_config cfg) {
  if (!open_or_quit(self, cfg, memory::long_term_store::mode::read_write))
    return {
      [](store_atom, memory::record&, tool_invocation&) -> tool_result {
        return {};
      },
      [](flush_atom) {},
    };
  return {
    [=](store_atom, memory::record& rec,
        tool_invocation& inv) -> caf::result<tool_result> {
      auto& st = self->state;
      if (auto ok = st.store->check(rec); !ok)
        return memory::tool_output(inv, ok.error());
      auto rp = self->make_response_promise<tool_result>();
      st.batch.push_back({std::move(rec), std::move(inv), rp});
      if (!st.flush_scheduled) {
        st.flush_scheduled = true;
        self->send(self, flush_atom::value);
      }
      return rp;
    },
    [=](flush_atom) { flush(self); },
  };
}

memory_reader_actor::behavior_type
memory_reader(memory_reader_actor::stateful_pointer<memory_reader_state> self,
              memory::long_term_config cfg) {
  if (!open_or_quit(self, cfg, memory::long_term_store::mode::read_only))
    return {
      [](recall_atom, recall_query&, std::vector<memory_hit>& session) {
        return session;
      },
      [](call_atom, tool_invocation&, std::vector<memory_hit>&) -> tool_result {
        return {};
      },
    };
  // Recall is an aid: if the store fails, the session's hits still go back,
  // and the failure is logged.
  auto search = [=](const std::string& ns, const std::string& query,
                    size_t limit) {
    auto hits = self->state.store->search(ns, query, limit);
    if (!hits) {
      log::get()->warn(R"("event":"memory_search_failed","error":{})",
                       log::quote(hits.error().message));
      return std::vector<memory_hit>{};
    }
    return to_hits(*hits);
  };
  return {
    [=](recall_atom, recall_query& q, std::vector<memory_hit>& session) {
      auto ns = memory::memory_namespace(q.principal, q.agent);
      return memory::merge_hits(search(ns, q.query, q.limit), session, q.limit);
    },
    [=](call_atom, tool_invocation& inv, std::vector<memory_hit>& session) {
      auto call = memory::parse_call(inv);
      if (!call)
        return memory::tool_output(inv, call.error());
      auto ns = memory::memory_namespace(inv.principal, inv.agent);
      auto hits = memory::merge_hits(search(ns, call->text, call->limit),
                                     session, call->limit);
      return memory::tool_output(inv, memory::recalled_json(call->text, hits));
    },
  };
}

} // namespace troupe
