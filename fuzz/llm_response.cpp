// A model's whole (non-streamed) answer: llm::parse_response in the wire
// format the first byte picks (even: OpenAI, odd: Anthropic), and
// llm::error_message, which reads the body of a failed call. A parsed
// answer's tool calls must carry a name and arguments that are a JSON
// object, and the next request built from it must be JSON.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json.hpp"
#include "llm/wire.hpp"
#include "support.hpp"

using namespace troupe;

namespace {

/// The answer, sent back as the assistant's turn of the next request (as
/// the task runner does) with a tool result for each call.
void next_request(llm::wire_format f, const chat_response& r) {
  chat_request req;
  req.messages.push_back({chat_role::system, "You are Troupe.", {}, {}});
  req.messages.push_back({chat_role::user, "What is 17 * 23?", {}, {}});
  req.messages.push_back({chat_role::assistant, r.content, r.tool_calls, {}});
  for (auto& c : r.tool_calls)
    req.messages.push_back({chat_role::tool, R"({"result":391})", {}, c.id});
  req.tools = tool_list{{tool_spec{"calculator", "Evaluates arithmetic",
                                   R"({"type":"object"})", true}}};
  auto body = llm::request_body(f, req, llm::model_settings{"m", 256, true});
  // Anthropic requests embed the arguments as objects, a few levels down.
  parse_limits deep;
  deep.max_depth = 256;
  if (!parse_object(body, "request body", deep))
    fuzz::broken("request_body built something that is not a JSON object");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto format =
    (data[0] & 1) ? llm::wire_format::anthropic : llm::wire_format::openai;
  std::string_view body{reinterpret_cast<const char*>(data) + 1, size - 1};
  auto message = llm::error_message(body);
  (void)message;
  auto r = llm::parse_response(format, body);
  if (!r) {
    if (r.error().code != errc::provider_failed)
      fuzz::broken("a bad answer failed with a code other than "
                   "provider_failed");
    return 0;
  }
  for (auto& c : r->tool_calls) {
    if (c.name.empty())
      fuzz::broken("a parsed tool call without a name");
    if (!parse_object(c.arguments, "arguments"))
      fuzz::broken("parsed tool call arguments that are not a JSON object");
  }
  next_request(format, *r);
  return 0;
}
