#pragma once

#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace troupe::memory {

class short_term_store;

/// Specs of the tools the memory actor serves: `memory_store` (keep a fact)
/// and `memory_recall` (ranked keyword recall).
std::vector<tool_spec> tool_specs();

/// True if the memory actor, not the tool executor, runs tool `name`.
bool is_memory_tool(std::string_view name) noexcept;

/// Runs a memory tool against `store`; bad arguments or unknown names come
/// back as a failed `tool_result`.
tool_result run_tool(short_term_store& store, const tool_invocation& inv);

} // namespace troupe::memory
