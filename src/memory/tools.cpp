#include "memory/tools.hpp"

#include <algorithm>

#include "core/json.hpp"
#include "memory/short_term.hpp"

namespace troupe::memory {

namespace {

constexpr std::string_view store_name = "memory_store";
constexpr std::string_view recall_name = "memory_recall";

// Recall never returns more than this many hits, whatever the caller asks.
constexpr uint64_t max_recall_limit = 50;

} // namespace

std::vector<tool_spec> tool_specs() {
  return {
    {std::string{store_name}, "Remember a fact for later in this session.",
     R"({"type":"object","properties":{"text":{"type":"string",)"
     R"("description":"The fact to remember."}},"required":["text"],)"
     R"("additionalProperties":false})",
     /*idempotent=*/false},
    {std::string{recall_name},
     "Recall remembered facts that match a query, best first.",
     R"({"type":"object","properties":{"query":{"type":"string",)"
     R"("description":"Keywords to look for."},"limit":{"type":"integer",)"
     R"("minimum":1,"maximum":50}},"required":["query"],)"
     R"("additionalProperties":false})",
     /*idempotent=*/true},
  };
}

bool is_memory_tool(std::string_view name) noexcept {
  return name == store_name || name == recall_name;
}

std::string memory_namespace(std::string_view principal,
                             std::string_view agent) {
  return std::string{principal} + "/" + std::string{agent};
}

result<memory_call> parse_call(const tool_invocation& inv) {
  auto args =
    parse_object(inv.call.arguments.empty() ? "{}" : inv.call.arguments,
                 "arguments of '" + inv.call.name + "'");
  if (!args)
    return failure{errc::invalid_arguments, args.error().message};
  auto str = [&](const char* key) -> result<std::string> {
    auto i = args->find(key);
    if (i == args->end() || !i->is_string())
      return failure{errc::invalid_arguments,
                     std::string{"argument '"} + key +
                       "' is required and must be a string"};
    return i->get<std::string>();
  };
  memory_call out;
  if (inv.call.name == store_name) {
    auto text = str("text");
    if (!text)
      return text.error();
    if (text->find_first_not_of(" \t\r\n") == std::string::npos)
      return failure{errc::invalid_arguments, "argument 'text' is empty"};
    out.what = memory_call::store;
    out.text = std::move(*text);
    return out;
  }
  if (inv.call.name == recall_name) {
    auto query = str("query");
    if (!query)
      return query.error();
    if (auto i = args->find("limit"); i != args->end()) {
      if (!i->is_number_integer() || i->get<int64_t>() < 1)
        return failure{errc::invalid_arguments,
                       "argument 'limit' must be a positive integer"};
      out.limit = std::min(i->get<uint64_t>(), max_recall_limit);
    }
    out.what = memory_call::recall;
    out.text = std::move(*query);
    return out;
  }
  return failure{errc::unknown_tool,
                 "memory has no tool '" + inv.call.name + "'"};
}

tool_result tool_output(const tool_invocation& inv, result<json> out) {
  tool_result r;
  r.call_id = inv.call.id;
  r.name = inv.call.name;
  r.ok = static_cast<bool>(out);
  r.output = out ? dump(*out) : error_json(out.error());
  return r;
}

json stored_json(uint64_t id, const std::string& text, bool durable) {
  return json{{"id", id}, {"text", text}, {"durable", durable}};
}

json recalled_json(const std::string& query,
                   const std::vector<memory_hit>& hits) {
  auto arr = json::array();
  for (auto& h : hits)
    arr.push_back(json{
      {"id", h.id}, {"text", h.text}, {"score", h.score}, {"origin", h.origin}});
  return json{{"query", query}, {"hits", std::move(arr)}};
}

std::vector<memory_hit> merge_hits(std::vector<memory_hit> long_term,
                                   const std::vector<memory_hit>& session,
                                   size_t limit) {
  auto out = std::move(long_term);
  for (auto& h : session) {
    if (out.size() >= limit)
      break;
    bool dup = std::any_of(out.begin(), out.end(),
                           [&](const memory_hit& x) { return x.text == h.text; });
    if (!dup)
      out.push_back(h);
  }
  if (out.size() > limit)
    out.resize(limit);
  return out;
}

tool_result run_tool(short_term_store& store, const tool_invocation& inv) {
  auto call = parse_call(inv);
  if (!call)
    return tool_output(inv, call.error());
  if (call->what == memory_call::store) {
    auto id = store.store(inv.session, call->text);
    return tool_output(inv, stored_json(id, call->text, false));
  }
  return tool_output(inv, recalled_json(call->text,
                                        store.recall(inv.session, call->text,
                                                     call->limit)));
}

} // namespace troupe::memory
