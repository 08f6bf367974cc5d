#include "actors/planner.hpp"

#include <unordered_set>

#include <caf/typed_response_promise.hpp>

namespace troupe {

caf::expected<chat_response>
planner_state::normalize(chat_response resp) const {
  if (resp.tool_calls.empty() && resp.content.empty())
    return make_error(errc::provider_failed,
                      "the model answered with neither text nor tool calls");
  if (resp.tool_calls.size() > max_parallel_calls)
    return make_error(errc::provider_failed,
                      "the model asked for " +
                        std::to_string(resp.tool_calls.size()) +
                        " tool calls in one step, the limit is " +
                        std::to_string(max_parallel_calls));
  // Results are paired with calls by id, so ids must be present and unique.
  std::unordered_set<std::string> seen;
  size_t n = 0;
  for (auto& call : resp.tool_calls) {
    ++n;
    if (call.id.empty() || !seen.insert(call.id).second) {
      call.id = "call_" + std::to_string(n);
      while (!seen.insert(call.id).second)
        call.id += "_";
    }
  }
  return resp;
}

namespace {

/// Whether `history` is at its first step: no assistant message yet.
bool first_step(const std::vector<chat_message>& history) {
  for (auto& m : history)
    if (m.role == chat_role::assistant)
      return false;
  return true;
}

std::string last_user_text(const std::vector<chat_message>& history) {
  for (auto i = history.rbegin(); i != history.rend(); ++i)
    if (i->role == chat_role::user)
      return i->content;
  return {};
}

} // namespace

planner_actor::behavior_type
planner_role(planner_actor::stateful_pointer<planner_state> self,
             provider_actor provider, memory_actor memory,
             std::vector<tool_spec> tools, struct timeouts timeouts,
             uint32_t max_parallel_calls) {
  auto& st = self->state;
  st.provider = std::move(provider);
  st.memory = std::move(memory);
  st.tools = std::move(tools);
  st.timeouts = timeouts;
  st.max_parallel_calls = max_parallel_calls;
  // Asks the model and delivers its (normalized) answer to `rp`.
  auto ask = [=](chat_request req,
                 caf::typed_response_promise<chat_response> rp) mutable {
    self
      ->request(self->state.provider, self->state.timeouts.model,
                complete_atom::value, std::move(req))
      .then(
        [=](chat_response& resp) mutable {
          auto norm = self->state.normalize(std::move(resp));
          if (norm)
            rp.deliver(std::move(*norm));
          else
            rp.deliver(std::move(norm.error()));
        },
        [=](caf::error& err) mutable {
          rp.deliver(make_error(errc::provider_failed,
                                "model provider failed: " + describe(err)));
        });
  };
  return {
    [=](plan_atom, plan_request& req) mutable -> caf::result<chat_response> {
      auto rp = self->make_response_promise<chat_response>();
      chat_request creq{std::move(req.history), self->state.tools};
      if (!first_step(creq.messages) || !self->state.memory) {
        ask(std::move(creq), rp);
        return rp;
      }
      recall_query q{req.session, last_user_text(creq.messages), 3};
      self
        ->request(self->state.memory, self->state.timeouts.role,
                  recall_atom::value, std::move(q))
        .then(
          [=](std::vector<memory_hit>& hits) mutable {
            if (!hits.empty()) {
              std::string ctx = "Relevant memories from this session:";
              for (auto& h : hits)
                ctx += "\n- " + h.text;
              creq.messages.insert(
                creq.messages.begin(),
                chat_message{chat_role::system, std::move(ctx), {}, {}});
            }
            ask(std::move(creq), rp);
          },
          // Recall is an aid, not a requirement: plan without it.
          [=](caf::error&) mutable { ask(std::move(creq), rp); });
      return rp;
    },
  };
}

} // namespace troupe
