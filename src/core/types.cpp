#include "core/types.hpp"

namespace troupe {

const char* to_string(event_kind x) noexcept {
  switch (x) {
    case event_kind::task_accepted:
      return "task_accepted";
    case event_kind::task_finished:
      return "task_finished";
    case event_kind::task_failed:
      return "task_failed";
    case event_kind::step:
      return "step";
    case event_kind::tool_call:
      return "tool_call";
    case event_kind::tool_error:
      return "tool_error";
    case event_kind::rejected:
      return "rejected";
    case event_kind::error:
      return "error";
    case event_kind::role_restarted:
      return "role_restarted";
    case event_kind::escalated:
      return "escalated";
    case event_kind::provider_fallback:
      return "provider_fallback";
    case event_kind::retried:
      return "retried";
  }
  return "unknown";
}

const char* to_string(task_status x) noexcept {
  switch (x) {
    case task_status::completed:
      return "completed";
    case task_status::failed:
      return "failed";
    case task_status::rejected:
      return "rejected";
    case task_status::cancelled:
      return "cancelled";
  }
  return "unknown";
}

const char* to_string(chat_role x) noexcept {
  switch (x) {
    case chat_role::system:
      return "system";
    case chat_role::user:
      return "user";
    case chat_role::assistant:
      return "assistant";
    case chat_role::tool:
      return "tool";
  }
  return "unknown";
}

const char* to_string(verdict_action x) noexcept {
  switch (x) {
    case verdict_action::allow:
      return "allow";
    case verdict_action::deny:
      return "deny";
    case verdict_action::redact:
      return "redact";
  }
  return "unknown";
}

} // namespace troupe
