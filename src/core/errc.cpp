#include "core/errc.hpp"

#include <array>

namespace troupe {

namespace {

constexpr std::array<std::string_view, 21> names = {
  "unspecified",       "invalid_input",       "rejected",  "unknown_tool",
  "invalid_arguments", "tool_failed",         "timeout",   "role_down",
  "step_limit",        "path_escape",         "too_large", "provider_failed",
  "invalid_config",    "not_found",           "cancelled", "forbidden",
  "budget_exceeded",   "sandbox_unavailable", "overloaded",
  "invalid_output",    "thread_busy",
};

} // namespace

std::string_view to_string(errc x) noexcept {
  auto i = static_cast<size_t>(x);
  if (i == 0 || i > names.size())
    return "invalid_errc";
  return names[i - 1];
}

bool from_string(std::string_view name, errc& out) noexcept {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) {
      out = static_cast<errc>(i + 1);
      return true;
    }
  return false;
}

} // namespace troupe
