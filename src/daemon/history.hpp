#pragma once

// A conversation thread's messages: their JSON (as the journal keeps them
// and GET /v1/threads/{id} shows them), the turn a finished run adds, and
// the part of the history a run gives the model within a token budget.
// CAF-free, pure.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "core/types.hpp"

namespace troupe::daemon {

/// The role named `name` ("system", "user", "assistant", "tool");
/// false for any other name.
bool role_from_name(std::string_view name, chat_role& out);

/// `m` as JSON: role, content, tool_calls (id, name, arguments),
/// tool_call_id, and the run (task id) that added it.
json message_json(const chat_message& m, uint64_t run);

/// A message from its JSON; fails, naming the field, on a bad one.
result<chat_message> message_from_json(const json& j);

/// The messages run `run` adds to its thread when it completes: the
/// user's input, each step's calls and results, the answer.
std::vector<chat_message> turn_of(const std::string& input,
                                  const task_result& r);

/// What a message costs in tokens, estimated (4 bytes a token, plus the
/// message's own overhead): the same estimate for every provider.
uint64_t estimated_tokens(const chat_message& m);

/// The latest whole turns of `history` (a turn starts at a user message;
/// a tool call never parts from its result) that fit in `budget` tokens;
/// with `dropped` set to the number of messages left out.
std::vector<chat_message> within_budget(const std::vector<chat_message>& history,
                                        uint64_t budget, size_t* dropped);

} // namespace troupe::daemon
