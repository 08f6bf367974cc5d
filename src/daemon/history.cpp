#include "daemon/history.hpp"

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

} // namespace troupe::daemon
