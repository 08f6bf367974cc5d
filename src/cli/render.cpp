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

json to_json(const task_result& r) {
  json steps = json::array();
  for (auto& step : r.steps) {
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
    steps.push_back(
      {{"calls", std::move(calls)}, {"results", std::move(results)}});
  }
  json out{{"id", r.id},
           {"status", to_string(r.status)},
           {"answer", r.answer},
           {"steps", std::move(steps)},
           {"remembered", remembered(r)},
           {"notes", r.notes}};
  out["error_code"] = r.error_code.empty() ? json(nullptr) : json(r.error_code);
  return out;
}

std::string to_text(const task_result& r) {
  std::string out = r.answer;
  out += '\n';
  for (auto& n : r.notes)
    out += "(note: " + n + ")\n";
  auto mem = remembered(r);
  if (!mem.empty()) {
    out += "\nRemembered:\n";
    for (auto& m : mem)
      out += "  - " + m + "\n";
  }
  return out;
}

json to_json(const std::vector<tool_spec>& specs) {
  json out = json::array();
  for (auto& s : specs)
    out.push_back({{"name", s.name},
                   {"description", s.description},
                   {"parameters", as_value(s.parameters)}});
  return out;
}

} // namespace troupe::cli
