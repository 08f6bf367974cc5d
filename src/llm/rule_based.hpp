#pragma once

// Troupe's default "model": an offline, deterministic rule set that maps
// plain-English clauses to tool calls and turns tool results into an answer.
// It is stateless, so any planner replica can serve any step of any task.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace troupe::llm {

/// `text` in the pieces a streaming model sends: each word with the
/// whitespace before it (the pieces joined are `text`).
std::vector<std::string> stream_pieces(std::string_view text);

/// Answers `req` without a network: if no tool results follow the last user
/// message, returns one tool call per recognised clause (ids `call_<n>`, `n`
/// the clause's 1-based position); otherwise composes the final answer from
/// the results. Only tools listed in `req.tools` are ever called. Never
/// throws and never invents an answer it has no tool result for.
chat_response rule_based_complete(const chat_request& req);

/// Splits `text` into clauses at `.`, `?`, `!`, `;` (and line breaks) that
/// are followed by whitespace or the end of the text, so "3.5" and
/// "notes.txt" stay whole. Each clause is trimmed of whitespace and trailing
/// punctuation; empty clauses are dropped.
std::vector<std::string> split_clauses(std::string_view text);

/// Maps one clause to at most one tool call, or nullopt if no rule matches
/// or the matching rule's tool is not in `tools`. `index` is the clause's
/// 0-based position; the call's id is `call_<index + 1>`.
std::optional<tool_call> map_clause(std::string_view clause, size_t index,
                                    const std::vector<tool_spec>& tools);

} // namespace troupe::llm
