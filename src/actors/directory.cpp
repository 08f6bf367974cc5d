#include "actors/directory.hpp"

#include <caf/actor_cast.hpp>

namespace troupe {

std::optional<size_t> role_index(std::string_view name,
                                 std::string_view base) {
  if (name == base)
    return 0;
  if (name.size() <= base.size() + 1 || name.substr(0, base.size()) != base ||
      name[base.size()] != '.')
    return std::nullopt;
  auto digits = name.substr(base.size() + 1);
  if (digits.size() > 3 || digits[0] == '0' ||
      digits.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  return static_cast<size_t>(std::stoul(std::string{digits}));
}

std::string role_name(std::string_view base, size_t index) {
  auto out = std::string{base};
  if (index > 0)
    out += "." + std::to_string(index);
  return out;
}

std::optional<size_t> provider_index(std::string_view name) {
  return role_index(name, "provider");
}

std::string provider_name(size_t index) {
  return role_name("provider", index);
}

bool role_directory::publish(std::string_view name, const caf::actor& handle) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto next = std::make_shared<role_set>(*current_);
  if (auto i = role_index(name, "planner"); i && *i < next->planners.size())
    next->planners[*i] = caf::actor_cast<planner_actor>(handle);
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
