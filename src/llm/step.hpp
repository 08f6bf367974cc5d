#pragma once

#include <cstdint>

#include "core/result.hpp"
#include "core/types.hpp"

namespace troupe::llm {

/// Checks and tidies a model's answer before the loop acts on it: gives
/// every tool call a unique id (results are paired with calls by id) and
/// rejects answers with neither text nor calls, or more than `max_calls`
/// calls, with `provider_failed`.
result<chat_response> normalize_step(chat_response resp, uint32_t max_calls);

} // namespace troupe::llm
