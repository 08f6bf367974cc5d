#include "actors/directory.hpp"

#include <caf/actor_cast.hpp>

namespace troupe {

std::optional<size_t> provider_index(std::string_view name) {
  if (name == "provider")
    return 0;
  if (name.size() == 10 && name.substr(0, 9) == "provider." &&
      name[9] >= '1' && name[9] <= '9')
    return static_cast<size_t>(name[9] - '0');
  return std::nullopt;
}

std::string provider_name(size_t index) {
  return index == 0 ? "provider" : "provider." + std::to_string(index);
}

bool role_directory::publish(std::string_view name, const caf::actor& handle) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto next = std::make_shared<role_set>(*current_);
  if (name == "planner")
    next->planner = caf::actor_cast<planner_actor>(handle);
  else if (auto i = provider_index(name); i && *i < next->providers.size())
    next->providers[*i] = caf::actor_cast<provider_actor>(handle);
  else if (name == "guardrail")
    next->guardrail = caf::actor_cast<guardrail_actor>(handle);
  else if (name == "tools")
    next->tools = caf::actor_cast<tool_executor_actor>(handle);
  else if (name == "memory")
    next->memory = caf::actor_cast<memory_actor>(handle);
  else if (name == "monitor")
    next->monitor = caf::actor_cast<monitor_actor>(handle);
  else if (name == "tasks")
    next->tasks = caf::actor_cast<task_manager_actor>(handle);
  else
    return false;
  current_ = std::move(next);
  return true;
}

} // namespace troupe
