#pragma once

// The two wire formats a model speaks, as their public documentation
// specifies them: OpenAI Chat Completions (also served by vLLM, llama.cpp's
// server and Ollama's /v1) and Anthropic Messages. Requests are built from a
// `chat_request`; answers (whole, or streamed as SSE events) become a
// `chat_response` or a typed error that never shows a secret. CAF-free and
// network-free, so every corner is testable.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/types.hpp"
#include "llm/sse.hpp"

namespace troupe::llm {

enum class wire_format : uint8_t { openai, anthropic };

/// Returns "openai" or "anthropic".
const char* to_string(wire_format x) noexcept;

struct model_settings {
  std::string model;
  /// Most tokens of one answer (Anthropic requires it; OpenAI: if > 0).
  uint32_t max_tokens = 1024;
  bool stream = true;
};

/// The tool an Anthropic model is made to call with its final answer when
/// the request has a `response_schema`.
inline constexpr const char* final_answer_tool = "final_answer";

/// An answer that calls `final_answer_tool` becomes final text (the
/// call's input; the calls beside it are dropped).
void unwrap_final_answer(chat_response& x);

/// The JSON body of a request: `req.model` over `s.model`; a
/// `req.response_schema` as OpenAI's `response_format` or Anthropic's
/// forced `final_answer` tool.
std::string request_body(wire_format f, const chat_request& req,
                         const model_settings& s);

/// Parses a whole (non-streamed) 200 answer.
result<chat_response> parse_response(wire_format f, std::string_view body);

/// The message of an API error body (OpenAI `{"error": {"message"}}`,
/// Anthropic `{"type": "error", "error": {"type", "message"}}`), or a
/// short excerpt of the body if it is something else.
std::string error_message(std::string_view body);

/// Assembles a streamed answer, event by event.
class stream_assembler {
public:
  explicit stream_assembler(wire_format f) : format_(f) {}

  /// Takes one SSE event. Fails on an error event inside the stream, on
  /// data that is not the format's JSON, or on an event out of order.
  result<bool> on_event(const sse_event& e);

  /// True once the stream said it is complete (`[DONE]` or
  /// `message_stop`).
  bool done() const noexcept {
    return done_;
  }

  /// The answer; fails if the stream never completed (cut mid-answer) or
  /// a tool call's arguments are not a JSON object.
  result<chat_response> finish();

  /// The answer text that came since the last call (to stream it on).
  std::string take_text() {
    auto out = content_.substr(std::min(taken_, content_.size()));
    taken_ = content_.size();
    return out;
  }

private:
  struct partial_call {
    std::string id;
    std::string name;
    std::string arguments;
  };

  result<bool> on_openai(std::string_view data);
  result<bool> on_anthropic(const sse_event& e);

  wire_format format_;
  bool done_ = false;
  size_t taken_ = 0;
  std::string content_;
  /// By the index the stream gives them.
  std::map<uint64_t, partial_call> calls_;
  token_usage usage_;
};

} // namespace troupe::llm
