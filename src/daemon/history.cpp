#include "daemon/history.hpp"

#include <algorithm>

namespace troupe::daemon {

bool role_from_name(std::string_view name, chat_role& out) {
  for (auto r : {chat_role::system, chat_role::user, chat_role::assistant,
                 chat_role::tool})
    if (name == to_string(r)) {
      out = r;
      return true;
    }
  return false;
}

json message_json(const chat_message& m, uint64_t run) {
  json out{{"role", to_string(m.role)}, {"content", m.content}, {"run", run}};
  if (!m.tool_calls.empty()) {
    json calls = json::array();
    for (auto& c : m.tool_calls)
      calls.push_back(
        {{"id", c.id}, {"name", c.name}, {"arguments", c.arguments}});
    out["tool_calls"] = std::move(calls);
  }
  if (!m.tool_call_id.empty())
    out["tool_call_id"] = m.tool_call_id;
  return out;
}

result<chat_message> message_from_json(const json& j) {
  auto bad = [](std::string what) {
    return failure{errc::invalid_input, "a thread message " + what};
  };
  if (!j.is_object())
    return bad("is not an object");
  chat_message m;
  if (!role_from_name(j.value("role", std::string{}), m.role))
    return bad("has no valid role");
  if (auto c = j.find("content"); c != j.end() && c->is_string())
    m.content = c->get<std::string>();
  if (auto id = j.find("tool_call_id"); id != j.end() && id->is_string())
    m.tool_call_id = id->get<std::string>();
  if (auto calls = j.find("tool_calls"); calls != j.end()) {
    if (!calls->is_array())
      return bad("has tool_calls that are not an array");
    for (auto& c : *calls) {
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string())
        return bad("has a tool call without a name");
      m.tool_calls.push_back(tool_call{c.value("id", std::string{}),
                                       c["name"].get<std::string>(),
                                       c.value("arguments", std::string{})});
    }
  }
  return m;
}

std::vector<chat_message> turn_of(const std::string& input,
                                  const task_result& r) {
  std::vector<chat_message> out;
  out.push_back({chat_role::user, input, {}, {}});
  for (auto& step : r.steps) {
    out.push_back({chat_role::assistant, {}, step.calls, {}});
    for (auto& res : step.results)
      out.push_back({chat_role::tool, res.output, {}, res.call_id});
  }
  out.push_back({chat_role::assistant, r.answer, {}, {}});
  return out;
}

uint64_t estimated_tokens(const chat_message& m) {
  auto bytes = m.content.size();
  for (auto& c : m.tool_calls)
    bytes += c.name.size() + c.arguments.size() + c.id.size();
  bytes += m.tool_call_id.size();
  return 4 + (bytes + 3) / 4;
}

std::vector<chat_message> within_budget(const std::vector<chat_message>& history,
                                        uint64_t budget, size_t* dropped) {
  // Walk back turn by turn (a turn starts at a user message); keep whole
  // turns while they fit.
  size_t keep_from = history.size();
  uint64_t used = 0;
  uint64_t turn = 0;
  for (size_t i = history.size(); i > 0; --i) {
    turn += estimated_tokens(history[i - 1]);
    if (history[i - 1].role != chat_role::user && i > 1)
      continue;
    if (used + turn > budget)
      break;
    used += turn;
    turn = 0;
    keep_from = i - 1;
  }
  if (dropped)
    *dropped = keep_from;
  return {history.begin() + static_cast<std::ptrdiff_t>(keep_from),
          history.end()};
}

history_plan plan_history(const std::vector<chat_message>& all,
                          const std::string& summary, uint64_t summarized,
                          uint64_t budget, bool summarize) {
  history_plan out;
  if (!summarize) {
    out.kept = within_budget(all, budget, nullptr);
    return out;
  }
  // The summary covers a prefix; what follows it competes for the rest
  // of the budget.
  auto from = std::min<size_t>(summarized, all.size());
  std::vector<chat_message> rest{all.begin() + static_cast<std::ptrdiff_t>(from),
                                 all.end()};
  uint64_t cost = summary.empty() ? 0 : estimated_tokens(summary_message(summary));
  size_t dropped = 0;
  out.kept = within_budget(rest, budget > cost ? budget - cost : 0, &dropped);
  out.to_summarize.assign(rest.begin(),
                          rest.begin() + static_cast<std::ptrdiff_t>(dropped));
  return out;
}

std::vector<chat_message> summary_request(const std::string& summary,
                                          const std::vector<chat_message>& dropped,
                                          uint64_t budget) {
  std::string transcript;
  if (!summary.empty())
    transcript += "Summary of what came before:\n" + summary + "\n\n";
  transcript += "The conversation after that:\n";
  for (auto& m : dropped) {
    switch (m.role) {
      case chat_role::user:
        transcript += "User: " + m.content + "\n";
        break;
      case chat_role::assistant:
        if (!m.content.empty())
          transcript += "Assistant: " + m.content + "\n";
        for (auto& c : m.tool_calls)
          transcript += "Assistant called " + c.name + "(" + c.arguments + ")\n";
        break;
      case chat_role::tool:
        transcript += "Tool result: " + m.content + "\n";
        break;
      case chat_role::system:
        transcript += "Note: " + m.content + "\n";
        break;
    }
  }
  // A summary that fills the budget would leave no room for the turns.
  auto words = std::max<uint64_t>(50, budget / 4 * 3 / 4);
  return {
    {chat_role::system,
     "You summarize conversations between a user and an assistant. Write "
     "one summary of everything below: the facts, names, numbers, "
     "decisions, tool results and open questions the assistant needs to go "
     "on with the conversation. At most " +
       std::to_string(words) +
       " words. Answer with the summary alone, no preamble.",
     {},
     {}},
    {chat_role::user, std::move(transcript), {}, {}}};
}

chat_message summary_message(const std::string& summary) {
  return {chat_role::system,
          "Summary of the earlier conversation (its turns are not shown):\n" +
            summary,
          {},
          {}};
}

std::vector<chat_message> with_summary(const std::string& summary,
                                       std::vector<chat_message> kept) {
  if (summary.empty())
    return kept;
  kept.insert(kept.begin(), summary_message(summary));
  return kept;
}

} // namespace troupe::daemon
