#include "cli/render.hpp"

namespace troupe::cli {

namespace {

// Tool arguments and outputs are JSON text; show them as JSON values, or as
// the raw string if a broken tool or model produced something else.
json as_value(const std::string& text) {
  auto parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded())
    return text;
  return parsed;
}

} // namespace

std::vector<std::string> remembered(const task_result& r) {
  std::vector<std::string> out;
  for (auto& step : r.steps)
    for (auto& res : step.results) {
      if (!res.ok || res.name != "memory_store")
        continue;
      auto v = as_value(res.output);
      if (v.is_object() && v.contains("text") && v["text"].is_string())
        out.push_back(v["text"].get<std::string>());
    }
  return out;
}

json to_json(const std::vector<memory_hit>& hits);

json to_json(const step_record& step) {
  json calls = json::array();
  for (auto& c : step.calls)
    calls.push_back(
      {{"id", c.id}, {"name", c.name}, {"arguments", as_value(c.arguments)}});
  json results = json::array();
  for (auto& res : step.results)
    results.push_back({{"call_id", res.call_id},
                       {"name", res.name},
                       {"ok", res.ok},
                       {"output", as_value(res.output)}});
  return {{"calls", std::move(calls)}, {"results", std::move(results)}};
}

json outcome_json(const task_result& r) {
  json out{{"answer", r.answer},
           {"remembered", remembered(r)},
           {"memories", to_json(r.memories)},
           {"notes", r.notes},
           {"usage",
            {{"prompt_tokens", r.usage.prompt},
             {"completion_tokens", r.usage.completion}}},
           {"provider", r.provider}};
  out["error_code"] = r.error_code.empty() ? json(nullptr) : json(r.error_code);
  return out;
}

json to_json(const task_result& r) {
  json steps = json::array();
  for (auto& step : r.steps)
    steps.push_back(to_json(step));
  auto out = outcome_json(r);
  out["id"] = r.id;
  out["status"] = to_string(r.status);
  out["steps"] = std::move(steps);
  return out;
}

std::string to_text(const task_result& r) {
  std::string out = r.answer;
  out += '\n';
  for (auto& n : r.notes)
    out += "(note: " + n + ")\n";
  if (!r.memories.empty()) {
    out += "\nRecalled:\n";
    for (auto& m : r.memories)
      out += "  - " + m.text +
             (m.origin == "long_term" ? " (long-term)\n" : " (this session)\n");
  }
  auto mem = remembered(r);
  if (!mem.empty()) {
    out += "\nRemembered:\n";
    for (auto& m : mem)
      out += "  - " + m + "\n";
  }
  return out;
}

json to_json(const std::vector<memory_hit>& hits) {
  json out = json::array();
  for (auto& h : hits)
    out.push_back({{"id", h.id},
                   {"text", h.text},
                   {"score", h.score},
                   {"origin", h.origin}});
  return out;
}

json to_json(const std::vector<tool_spec>& specs) {
  json out = json::array();
  for (auto& s : specs)
    out.push_back({{"name", s.name},
                   {"description", s.description},
                   {"parameters", as_value(s.parameters)},
                   {"permissions", s.permissions},
                   {"idempotent", s.idempotent},
                   {"timeout_ms", s.timeout_ms},
                   {"cache_ttl_ms", s.cache_ttl_ms}});
  return out;
}

namespace {

/// Display width of UTF-8 text without wide characters: its code points.
size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

/// Spaces that take text of `width` columns to `column` (at least one).
std::string padding(size_t width, size_t column) {
  return std::string(width < column ? column - width : 1, ' ');
}

void tree_lines(const std::vector<child_status>& rows, const std::string& parent,
                const std::string& indent, int depth, std::string& out) {
  std::vector<const child_status*> kids;
  for (auto& r : rows)
    if (r.parent == parent)
      kids.push_back(&r);
  // Names are unique in the engine's tree; the depth bound guards against a
  // cycle in hand-made input.
  if (depth > 16)
    return;
  for (size_t i = 0; i < kids.size(); ++i) {
    auto& k = *kids[i];
    bool last = i + 1 == kids.size();
    auto label = indent + (last ? "└── " : "├── ") + k.name;
    auto state = k.state.empty() ? std::string{"unknown"} : k.state;
    out += label + padding(columns(label), 28) + state +
           padding(state.size(), 12) + "restarts " +
           std::to_string(k.restarts);
    if (!k.last_exit.empty())
      out += "  last exit: " + k.last_exit;
    out += "\n";
    tree_lines(rows, k.name, indent + (last ? "    " : "│   "), depth + 1, out);
  }
}

} // namespace

std::string supervision_text(const std::vector<child_status>& rows) {
  std::string out = "root\n";
  tree_lines(rows, "root", "", 0, out);
  return out;
}

json to_json(const std::vector<child_status>& rows) {
  auto out = json::array();
  for (auto& r : rows)
    out.push_back({{"name", r.name},
                   {"parent", r.parent},
                   {"state", r.state},
                   {"running", r.running},
                   {"restarts", r.restarts},
                   {"last_exit", r.last_exit}});
  return out;
}

} // namespace troupe::cli
