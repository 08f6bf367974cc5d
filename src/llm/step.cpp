#include "llm/step.hpp"

#include <string>
#include <unordered_set>

namespace troupe::llm {

result<chat_response> normalize_step(chat_response resp, uint32_t max_calls) {
  if (resp.tool_calls.empty() && resp.content.empty())
    return failure{errc::provider_failed,
                   "the model answered with neither text nor tool calls"};
  if (resp.tool_calls.size() > max_calls)
    return failure{
      errc::provider_failed,
      "the model asked for " + std::to_string(resp.tool_calls.size()) +
        " tool calls in one step, the limit is " + std::to_string(max_calls)};
  std::unordered_set<std::string> seen;
  size_t n = 0;
  for (auto& call : resp.tool_calls) {
    ++n;
    if (call.id.empty() || !seen.insert(call.id).second) {
      call.id = "call_" + std::to_string(n);
      while (!seen.insert(call.id).second)
        call.id += "_";
    }
  }
  return resp;
}

} // namespace troupe::llm
