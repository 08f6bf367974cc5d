#pragma once

// One model call of the engine's own, outside any task: agent `agent`'s
// model (its first provider and model) completes `messages`, offered no
// tools; the answer passes the output filter. The daemon's thread
// summaries and the command line's use it.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/types.hpp"

namespace caf {
class actor_system;
}

namespace troupe {
class engine;
}

namespace troupe::daemon {

/// Asks the model as above, for task `task_id` (the run it is for; its
/// planner instance answers); `done`, on an actor's thread, gets the text
/// or why not (`invalid_input` for an unknown agent, `provider_failed` for
/// an answer with no text, else the planner's error).
void tool_free_completion(caf::actor_system& sys, const engine& eng,
                          const std::string& agent, uint64_t task_id,
                          std::vector<chat_message> messages,
                          std::function<void(result<std::string>)> done);

} // namespace troupe::daemon
