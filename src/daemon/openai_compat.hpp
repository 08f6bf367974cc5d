#pragma once

// The OpenAI Chat Completions API over Troupe's agents, as OpenAI documents
// it: a request's messages become the conversation (`model` names the
// agent), the answer comes back as a `chat.completion` or, streamed, as
// `chat.completion.chunk` events. CAF-free, pure: the service runs the
// task (daemon/service.cpp).

#include <cstdint>
#include <string>
#include <vector>

#include "agents/catalog.hpp"
#include "core/json.hpp"
#include "core/result.hpp"
#include "core/types.hpp"

namespace troupe::daemon {

/// A Chat Completions request, checked.
struct completion_request {
  /// The agent.
  std::string model;
  /// The messages before the last user message, in order (system and
  /// developer messages as system messages: they follow the agent's
  /// instructions).
  std::vector<chat_message> history;
  /// The last message's text: the turn the agent answers.
  std::string input;
  bool stream = false;
  /// `stream_options.include_usage`: a last chunk with the usage.
  bool include_usage = false;
};

/// Most messages one request may carry.
inline constexpr size_t max_completion_messages = 1000;

/// Checks and converts a request body. Errors (`invalid_input`) name the
/// field: a missing model or messages, a role that is not system,
/// developer, user, assistant or tool, content that is not text, a last
/// message that is not the user's, `tools` (the agent's tools run on the
/// server), `n` other than 1.
result<completion_request> parse_completion_request(const json& body);

/// The answer as a `chat.completion` object.
json completion_json(const std::string& id, int64_t created,
                     const std::string& model, const task_result& r);

/// One `chat.completion.chunk` with `delta` and `finish_reason` (null
/// while it goes on).
json chunk_json(const std::string& id, int64_t created,
                const std::string& model, json delta, json finish_reason);

/// The usage chunk that ends a stream with `include_usage`.
json usage_chunk(const std::string& id, int64_t created,
                 const std::string& model, const token_usage& usage);

/// `GET /v1/models`: the agents, as models.
json models_json(const agents::catalog& known);

} // namespace troupe::daemon
