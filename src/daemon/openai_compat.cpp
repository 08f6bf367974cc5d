#include "daemon/openai_compat.hpp"

#include <set>

#include "daemon/history.hpp"

namespace troupe::daemon {

namespace {

failure bad(std::string message) {
  return failure{errc::invalid_input, std::move(message)};
}

/// A message's text: a string, or an array of text parts joined.
result<std::string> text_of(const json& content, const std::string& where) {
  if (content.is_null())
    return std::string{};
  if (content.is_string())
    return content.get<std::string>();
  if (!content.is_array())
    return bad(where + ".content must be a string or an array of text "
                       "parts");
  std::string out;
  for (size_t i = 0; i < content.size(); ++i) {
    auto& part = content[i];
    auto at = where + ".content[" + std::to_string(i) + "]";
    if (!part.is_object() || part.value("type", std::string{}) != "text" ||
        !part.contains("text") || !part["text"].is_string())
      return bad(at + " must be {\"type\": \"text\", \"text\": …} (only text "
                      "is supported)");
    out += part["text"].get<std::string>();
  }
  return out;
}

result<chat_message> message_of(const json& m, size_t i) {
  auto where = "messages[" + std::to_string(i) + "]";
  if (!m.is_object())
    return bad(where + " must be an object");
  auto role = m.find("role");
  if (role == m.end() || !role->is_string())
    return bad(where + ".role is required (system, developer, user, "
                       "assistant or tool)");
  auto name = role->get<std::string>();
  chat_message out;
  // A developer message is OpenAI's newer name for a system message.
  if (!role_from_name(name == "developer" ? "system" : name, out.role))
    return bad(where + ".role must be system, developer, user, assistant or "
                       "tool, got '" +
               name.substr(0, 40) + "'");
  auto text = text_of(m.value("content", json{}), where);
  if (!text)
    return text.error();
  out.content = std::move(*text);
  if (out.role == chat_role::tool) {
    auto id = m.find("tool_call_id");
    if (id == m.end() || !id->is_string())
      return bad(where + ".tool_call_id is required for a tool message");
    out.tool_call_id = id->get<std::string>();
  }
  if (auto calls = m.find("tool_calls");
      calls != m.end() && out.role == chat_role::assistant) {
    if (!calls->is_array())
      return bad(where + ".tool_calls must be an array");
    for (size_t k = 0; k < calls->size(); ++k) {
      auto& c = (*calls)[k];
      auto fn = c.is_object() ? c.find("function") : c.end();
      if (!c.is_object() || fn == c.end() || !fn->is_object() ||
          !fn->contains("name") || !(*fn)["name"].is_string())
        return bad(where + ".tool_calls[" + std::to_string(k) +
                   "] must have a function with a name");
      auto args = fn->value("arguments", json{"{}"});
      out.tool_calls.push_back(
        tool_call{c.value("id", std::string{}), (*fn)["name"].get<std::string>(),
                  args.is_string() ? args.get<std::string>() : dump(args)});
    }
  }
  return out;
}

} // namespace

result<completion_request> parse_completion_request(const json& body) {
  // Parameters a client may send that change nothing here: the agent's
  // configuration decides the model's settings.
  static const std::set<std::string, std::less<>> ignored = {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "user",
    "stop", "presence_penalty", "frequency_penalty", "seed", "metadata",
    "store", "logit_bias", "service_tier", "parallel_tool_calls",
    "reasoning_effort"};
  static const std::set<std::string, std::less<>> refused_tools = {
    "tools", "tool_choice", "functions", "function_call"};
  if (!body.is_object())
    return bad("the request body must be a JSON object");
  completion_request out;
  for (auto& [key, value] : body.items()) {
    if (key == "model" || key == "messages" || ignored.count(key))
      continue;
    if (refused_tools.count(key))
      return bad("'" + key + "' is not supported: the agent's own tools run "
                 "on the server (configure them under agents.<name>.tools)");
    if (key == "stream") {
      if (!value.is_boolean())
        return bad("'stream' must be true or false");
      out.stream = value.get<bool>();
    } else if (key == "stream_options") {
      if (!value.is_object() && !value.is_null())
        return bad("'stream_options' must be an object");
      if (value.is_object())
        out.include_usage = value.value("include_usage", false);
    } else if (key == "n") {
      if (!value.is_number_integer() || value.get<int64_t>() != 1)
        return bad("'n' must be 1: an agent gives one answer");
    } else if (key == "response_format") {
      return bad("'response_format' is not supported: the agent's "
                 "output_schema decides the answer's shape");
    } else if (key == "logprobs" || key == "top_logprobs" ||
               key == "modalities" || key == "audio") {
      if (!value.is_null() && value != false)
        return bad("'" + key + "' is not supported");
    } else {
      return bad("unknown field '" + key.substr(0, 40) + "'");
    }
  }
  auto model = body.find("model");
  if (model == body.end() || !model->is_string() ||
      model->get<std::string>().empty())
    return bad("'model' is required: the name of an agent (GET /v1/models)");
  out.model = model->get<std::string>();
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    return bad("'messages' is required: a non-empty array");
  if (messages->size() > max_completion_messages)
    return bad("'messages' has " + std::to_string(messages->size()) +
               " messages, over the limit of " +
               std::to_string(max_completion_messages));
  for (size_t i = 0; i < messages->size(); ++i) {
    auto m = message_of((*messages)[i], i);
    if (!m)
      return m.error();
    out.history.push_back(std::move(*m));
  }
  if (out.history.back().role != chat_role::user)
    return bad("the last message must be the user's (the turn the agent "
               "answers)");
  out.input = std::move(out.history.back().content);
  out.history.pop_back();
  return out;
}

json completion_json(const std::string& id, int64_t created,
                     const std::string& model, const task_result& r) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices",
           json::array({{{"index", 0},
                         {"message",
                          {{"role", "assistant"},
                           {"content", r.answer},
                           {"refusal", nullptr}}},
                         {"logprobs", nullptr},
                         {"finish_reason", "stop"}}})},
          {"usage",
           {{"prompt_tokens", r.usage.prompt},
            {"completion_tokens", r.usage.completion},
            {"total_tokens", r.usage.prompt + r.usage.completion}}}};
}

json chunk_json(const std::string& id, int64_t created,
                const std::string& model, json delta, json finish_reason) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0},
                                    {"delta", std::move(delta)},
                                    {"logprobs", nullptr},
                                    {"finish_reason", std::move(finish_reason)}}})}};
}

json usage_chunk(const std::string& id, int64_t created,
                 const std::string& model, const token_usage& usage) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array()},
          {"usage",
           {{"prompt_tokens", usage.prompt},
            {"completion_tokens", usage.completion},
            {"total_tokens", usage.prompt + usage.completion}}}};
}

json models_json(const agents::catalog& known) {
  json data = json::array();
  for (auto& [name, a] : known.all())
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "troupe"},
                    {"description", a->description}});
  return {{"object", "list"}, {"data", std::move(data)}};
}

} // namespace troupe::daemon
