#include "actors/guardrail.hpp"

#include "actors/fail_fast.hpp"

#include <algorithm>

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
               std::shared_ptr<const guardrail::input_filter> input,
               std::shared_ptr<const guardrail::output_filter> output,
               fault_spec faults) {
  answer_on_crash(self, "guardrail");
  self->state.input = std::move(input);
  self->state.output = std::move(output);
  self->state.faults = fault_injector{"guardrail", faults};
  return {
    [=](check_input_atom, const task_request& req) -> caf::result<verdict> {
      if (auto r = inject_fault<verdict>(self, self->state.faults))
        return std::move(*r);
      return self->state.input->check(req.text);
    },
    [=](check_output_atom, const std::string& text,
        bool) -> caf::result<verdict> {
      if (auto r = inject_fault<verdict>(self, self->state.faults))
        return std::move(*r);
      return output_verdict(*self->state.output, text);
    },
  };
}

} // namespace troupe
