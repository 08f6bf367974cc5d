// The body of POST /v1/chat/completions as a client sends it: parse_object,
// then daemon::parse_completion_request. What it accepts keeps within its
// limits (messages, a user turn last, tools refused); what it refuses is
// invalid_input with a message; the answer shapes built from it are JSON.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json.hpp"
#include "daemon/openai_compat.hpp"
#include "support.hpp"

using namespace troupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto body = parse_object(text, "the request body");
  if (!body)
    return 0;
  auto req = daemon::parse_completion_request(*body);
  if (!req) {
    if (req.error().code != errc::invalid_input || req.error().message.empty())
      fuzz::broken("a refusal that is not invalid_input with a message");
    return 0;
  }
  if (req->model.empty())
    fuzz::broken("accepted without a model");
  if (req->history.size() + 1 > daemon::max_completion_messages)
    fuzz::broken("accepted more messages than the limit");
  if (body->contains("tools") || body->contains("functions"))
    fuzz::broken("accepted tools from the client");
  for (auto& m : req->history)
    if (m.role == chat_role::tool && m.tool_call_id.empty())
      fuzz::broken("a tool message without its call id");
  task_result r;
  r.answer = req->input;
  auto whole = daemon::completion_json("chatcmpl-1", 0, req->model, r);
  auto chunk = daemon::chunk_json("chatcmpl-1", 0, req->model,
                                  {{"content", req->input}}, nullptr);
  for (auto* j : {&whole, &chunk})
    if (!parse_json(dump(*j), "an answer"))
      fuzz::broken("an answer that does not parse back");
  return 0;
}
