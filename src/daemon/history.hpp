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

/// What a run of a thread gets, from its messages, the summary kept so
/// far (of its first `summarized` messages), and the agent's budget and
/// policy.
struct history_plan {
  /// The latest whole turns that fit (with the summary's cost taken
  /// from the budget).
  std::vector<chat_message> kept;
  /// Messages past the summary that no longer fit: with `summarize`, the
  /// run summarizes them (`summary_request`) first; else they are left
  /// out.
  std::vector<chat_message> to_summarize;
};

/// The history of a run within `budget`; with `summarize`, the summary
/// (`summary`, of the first `summarized` messages) takes its place in the
/// budget and the turns that do not fit are to be summarized; without,
/// the oldest turns are left out and the summary is not used.
history_plan plan_history(const std::vector<chat_message>& all,
                          const std::string& summary, uint64_t summarized,
                          uint64_t budget, bool summarize);

/// The messages that ask a model for the new summary: the summary so far
/// (if any) and `dropped`, as a transcript, with the instructions to
/// summarize within about `budget` tokens.
std::vector<chat_message> summary_request(const std::string& summary,
                                          const std::vector<chat_message>& dropped,
                                          uint64_t budget);

/// The summary as the message that leads a run's history.
chat_message summary_message(const std::string& summary);

/// A run's history: the summary's message first, if there is a summary,
/// then `kept`.
std::vector<chat_message> with_summary(const std::string& summary,
                                       std::vector<chat_message> kept);

} // namespace troupe::daemon
