#include "memory/tools.hpp"

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

tool_result run_tool(short_term_store& store, const tool_invocation& inv) {
  tool_result out;
  out.call_id = inv.call.id;
  out.name = inv.call.name;
  auto fail = [&](failure f) {
    out.ok = false;
    out.output = error_json(f);
    return out;
  };
  auto args =
    parse_object(inv.call.arguments.empty() ? "{}" : inv.call.arguments,
                 "arguments of '" + inv.call.name + "'");
  if (!args)
    return fail({errc::invalid_arguments, args.error().message});
  auto str = [&](const char* key) -> result<std::string> {
    auto i = args->find(key);
    if (i == args->end() || !i->is_string())
      return failure{errc::invalid_arguments,
                     std::string{"argument '"} + key +
                       "' is required and must be a string"};
    return i->get<std::string>();
  };
  if (inv.call.name == store_name) {
    auto text = str("text");
    if (!text)
      return fail(text.error());
    if (text->find_first_not_of(" \t\r\n") == std::string::npos)
      return fail({errc::invalid_arguments, "argument 'text' is empty"});
    auto id = store.store(inv.session, *text);
    out.ok = true;
    out.output = dump(json{{"id", id}, {"text", *text}});
    return out;
  }
  if (inv.call.name == recall_name) {
    auto query = str("query");
    if (!query)
      return fail(query.error());
    uint64_t limit = 5;
    if (auto i = args->find("limit"); i != args->end()) {
      if (!i->is_number_integer() || i->get<int64_t>() < 1)
        return fail({errc::invalid_arguments,
                     "argument 'limit' must be a positive integer"});
      limit = std::min(i->get<uint64_t>(), max_recall_limit);
    }
    auto hits = store.recall(inv.session, *query, limit);
    auto arr = json::array();
    for (auto& h : hits)
      arr.push_back(json{{"id", h.id}, {"text", h.text}, {"score", h.score}});
    out.ok = true;
    out.output = dump(json{{"query", *query}, {"hits", std::move(arr)}});
    return out;
  }
  return fail(
    {errc::unknown_tool, "memory has no tool '" + inv.call.name + "'"});
}

} // namespace troupe::memory
