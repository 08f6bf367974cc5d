#include "actors/guardrail.hpp"

#include "actors/fail_fast.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/log.hpp"

namespace troupe {

verdict output_verdict(const guardrail::output_filter& filter,
                       std::string_view text) {
  auto r = filter.check(text);
  auto names = [](const std::vector<std::string>& xs) {
    std::string out;
    for (auto& x : xs)
      out += (out.empty() ? "" : ", ") + x;
    return out;
  };
  if (r.blocked())
    return verdict{verdict_action::deny, "contains " + r.blocked_by, {}};
  std::string reason;
  if (!r.flags.empty())
    reason = "flagged: " + names(r.flags);
  if (r.redacted()) {
    std::vector<std::string> redacted;
    for (auto& m : r.matched)
      if (std::find(r.flags.begin(), r.flags.end(), m) == r.flags.end())
        redacted.push_back(m);
    auto what = "redacted: " + names(redacted);
    reason = reason.empty() ? what : what + "; " + reason;
    return verdict{verdict_action::redact, std::move(reason),
                   std::move(r.text)};
  }
  return verdict{verdict_action::allow, std::move(reason), {}};
}

guardrail_actor::behavior_type
guardrail_role(guardrail_actor::stateful_pointer<guardrail_state> self,
               std::shared_ptr<guardrail::rules_holder> rules,
               std::shared_ptr<const tool_authority> authority,
               fault_spec faults) {
  answer_on_crash(self, "guardrail");
  self->state.rules = std::move(rules);
  self->state.authority = std::move(authority);
  self->state.faults = fault_injector{"guardrail", faults};
  return {
    [=](check_input_atom, const task_request& req) -> caf::result<verdict> {
      if (auto r = inject_fault<verdict>(self, self->state.faults))
        return std::move(*r);
      return self->state.rules->current().input->check(req.text);
    },
    [=](check_output_atom, const std::string& text,
        bool) -> caf::result<verdict> {
      if (auto r = inject_fault<verdict>(self, self->state.faults))
        return std::move(*r);
      return output_verdict(*self->state.rules->current().output, text);
    },
    [=](reload_atom) -> caf::result<uint64_t> {
      // Tasks keep going: checks that arrive after this use the new rules.
      auto n = self->state.rules->reload();
      if (!n) {
        log::get()->error(R"("event":"guardrail_reload_failed","error":{})",
                          log::quote(n.error().message));
        return make_error(n.error().code, n.error().message);
      }
      log::get()->info(R"("event":"guardrail_reloaded","rules":{})", *n);
      return uint64_t{*n};
    },
    [=](authorize_atom,
        tool_invocation& inv) -> caf::result<tool_invocation> {
      if (auto r = inject_fault<tool_invocation>(self, self->state.faults))
        return std::move(*r);
      auto& auth = *self->state.authority;
      static const std::vector<std::string> basic{"execute_tools"};
      auto reg = auth.catalog->snapshot();
      auto tool = reg->find(inv.call.name);
      auto& needs = tool == nullptr ? basic : tool->spec.permissions;
      if (auto why = auth.access->get()->tool_denial(inv.principal,
                                                     inv.call.name, needs))
        return make_error(errc::forbidden, *why);
      inv.grant = guardrail::sign(auth.key, inv,
                                  memory::now_ms() + auth.lifetime.count());
      return std::move(inv);
    },
  };
}

} // namespace troupe
