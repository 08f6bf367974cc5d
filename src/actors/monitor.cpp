#include "actors/monitor.hpp"

#include "actors/fail_fast.hpp"

#include <spdlog/spdlog.h>

#include "core/log.hpp"

namespace troupe {

namespace {

spdlog::level::level_enum level_of(event_kind x) {
  switch (x) {
    case event_kind::task_accepted:
    case event_kind::task_finished:
      return spdlog::level::info;
    case event_kind::step:
    case event_kind::tool_call:
      return spdlog::level::debug;
    case event_kind::task_failed:
    case event_kind::tool_error:
    case event_kind::rejected:
    case event_kind::error:
    case event_kind::role_restarted:
    case event_kind::provider_fallback:
    case event_kind::retried:
      return spdlog::level::warn;
    case event_kind::escalated:
      return spdlog::level::err;
  }
  return spdlog::level::warn;
}

} // namespace

void monitor_state::record(const event& x) {
  auto i = static_cast<size_t>(x.kind);
  if (i < counts.size())
    ++counts[i];
  if (x.kind == event_kind::role_restarted)
    ++restarts[x.detail];
  else if (x.kind == event_kind::escalated)
    ++escalations[x.detail];
  auto lvl = level_of(x.kind);
  // Formatting costs more than counting: only build lines that get written.
  if (!logger || !logger->should_log(lvl))
    return;
  logger->log(lvl, R"("event":"{}","task":{},"actor":{},"detail":{})",
              to_string(x.kind), x.task_id, x.actor_id, log::quote(x.detail));
}

monitor_actor::behavior_type
monitor_role(monitor_actor::stateful_pointer<monitor_state> self) {
  answer_on_crash(self, "monitor");
  self->state.logger = log::get();
  return {
    [=](event_atom, event& x) { self->state.record(x); },
    [=](stats_atom) {
      auto& c = self->state.counts;
      return monitor_stats{std::vector<uint64_t>(c.begin(), c.end()),
                           self->state.restarts, self->state.escalations};
    },
  };
}

} // namespace troupe
