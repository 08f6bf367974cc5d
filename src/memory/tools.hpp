#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "core/types.hpp"

namespace troupe::memory {

class short_term_store;

/// Specs of the tools the memory actor serves: `memory_store` (keep a fact)
/// and `memory_recall` (ranked keyword recall).
std::vector<tool_spec> tool_specs();

/// True if the memory actor, not the tool executor, runs tool `name`.
bool is_memory_tool(std::string_view name) noexcept;

/// The long-term namespace of a principal's agent: "<principal>/<agent>".
std::string memory_namespace(std::string_view principal,
                             std::string_view agent);

/// A memory tool call with its arguments checked.
struct memory_call {
  enum kind { store, recall } what = recall;
  /// The fact to store, or the recall query.
  std::string text;
  uint64_t limit = 5;
};

/// Parses and checks the arguments of a memory tool call.
result<memory_call> parse_call(const tool_invocation& inv);

/// The result of `inv`: `out` as JSON text, or its error.
tool_result tool_output(const tool_invocation& inv, result<json> out);

/// Outputs of `memory_store` and `memory_recall`.
json stored_json(uint64_t id, const std::string& text, bool durable);
json recalled_json(const std::string& query,
                   const std::vector<memory_hit>& hits);

/// Long-term hits first (by relevance), then the session's hits whose text
/// is not already there, at most `limit`.
std::vector<memory_hit> merge_hits(std::vector<memory_hit> long_term,
                                   const std::vector<memory_hit>& session,
                                   size_t limit);

/// Runs a memory tool against `store`; bad arguments or unknown names come
/// back as a failed `tool_result`.
tool_result run_tool(short_term_store& store, const tool_invocation& inv);

} // namespace troupe::memory
