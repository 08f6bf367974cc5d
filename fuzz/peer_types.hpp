#pragma once

// What a peer node can send, for fuzz/peer_message.cpp and its seed
// generator (fuzz/seeds/peer_message_seeds.cpp): a whole caf::message (CAF
// picks each element's type by its registered name), an error (their
// context is a message), and each struct of actors/protocol.hpp with an
// inspect overload. A seed's first byte is the index in this list.

#include <cstddef>
#include <iterator>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/message.hpp>

#include "actors/protocol.hpp"

namespace troupe::fuzz {

using peer_types =
  std::tuple<caf::message, caf::error, tool_call, chat_message, tool_spec,
             tool_list, chat_request, token_usage, chat_response, task_request,
             approval, tool_invocation, tool_result, step_record, task_result,
             memory_hit, memory::record, recall_query, verdict, event,
             monitor_stats, plan_request, member_info, child_status,
             std::vector<tool_spec>, std::vector<memory_hit>,
             std::vector<child_status>, std::vector<member_info>,
             std::map<std::string, caf::actor>>;

inline constexpr const char* peer_type_names[] = {
  "message",       "error",        "tool_call",      "chat_message",
  "tool_spec",     "tool_list",    "chat_request",   "token_usage",
  "chat_response", "task_request", "approval",       "tool_invocation",
  "tool_result",   "step_record",  "task_result",    "memory_hit",
  "memory_record", "recall_query", "verdict",        "event",
  "monitor_stats", "plan_request", "member_info",    "child_status",
  "tool_specs",    "memory_hits",  "child_statuses", "member_infos",
  "actor_handles"};

inline constexpr size_t peer_type_count = std::tuple_size_v<peer_types>;

static_assert(std::size(peer_type_names) == peer_type_count);

/// Stands for a type without making a value of it.
template <class T>
struct type_tag {
  using type = T;
};

/// Calls `f(type_tag<T>{})` with the `i`-th type of `peer_types`.
template <class F>
void with_peer_type(size_t i, F&& f) {
  [&]<size_t... Is>(std::index_sequence<Is...>) {
    ((i == Is ? (f(type_tag<std::tuple_element_t<Is, peer_types>>{}), 0) : 0),
     ...);
  }
  (std::make_index_sequence<peer_type_count>{});
}

} // namespace troupe::fuzz
