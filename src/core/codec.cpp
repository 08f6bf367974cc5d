#include "core/codec.hpp"

namespace troupe {

namespace {

// Tool arguments and outputs are JSON text; show them as JSON values, or as
// the raw string if a broken tool or model produced something else.
json as_value(const std::string& text) {
  auto parsed = parse_json(text, "a value");
  if (!parsed)
    return text;
  return std::move(*parsed);
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

step_record step_from_json(const json& j) {
  auto text = [](const json& v) {
    return v.is_string() ? v.get<std::string>() : dump(v);
  };
  step_record out;
  for (auto& c : j.value("calls", json::array()))
    out.calls.push_back({c.value("id", std::string{}), c.value("name", std::string{}),
                         text(c.value("arguments", json::object()))});
  for (auto& r : j.value("results", json::array()))
    out.results.push_back({r.value("call_id", std::string{}),
                           r.value("name", std::string{}), r.value("ok", false),
                           text(r.value("output", json(nullptr)))});
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

} // namespace troupe
