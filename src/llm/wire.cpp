#include "llm/wire.hpp"

#include "core/json.hpp"

namespace troupe::llm {

namespace {

failure bad(std::string message) {
  return failure{errc::provider_failed, std::move(message)};
}

/// A schema or arguments text as a JSON object ({} if it is not one).
json object_or_empty(const std::string& text) {
  auto parsed = parse_json(text, "a schema").value_or(json{});
  return parsed.is_object() ? parsed : json::object();
}

/// Arguments the model sent for `name`, checked to be a JSON object.
result<std::string> checked_arguments(const std::string& name,
                                      const std::string& text) {
  auto args = text.empty() ? std::string{"{}"} : text;
  auto parsed = parse_object(args, "the arguments");
  if (!parsed)
    return bad("the model sent arguments for tool '" + name +
               "' that are not a JSON object: " + parsed.error().message);
  return dump(*parsed);
}

const json* find(const json& j, const char* key) {
  if (!j.is_object())
    return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::string string_at(const json& j, const char* key) {
  auto* v = find(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string{};
}

uint64_t number_at(const json& j, const char* key) {
  auto* v = find(j, key);
  return v && v->is_number_unsigned() ? v->get<uint64_t>() : 0;
}

/// A tool result carries an error if it is `{"error": …}` (error_json).
bool is_error_result(const std::string& content) {
  auto parsed = parse_json(content, "a tool result").value_or(json{});
  return parsed.is_object() && parsed.contains("error");
}

json openai_messages(const chat_request& req) {
  json out = json::array();
  for (auto& m : req.messages) {
    switch (m.role) {
      case chat_role::system:
      case chat_role::user:
        out.push_back({{"role", to_string(m.role)}, {"content", m.content}});
        break;
      case chat_role::assistant: {
        json msg{{"role", "assistant"}};
        msg["content"] = m.content.empty() ? json(nullptr) : json(m.content);
        if (!m.tool_calls.empty()) {
          json calls = json::array();
          for (auto& c : m.tool_calls)
            calls.push_back({{"id", c.id},
                             {"type", "function"},
                             {"function",
                              {{"name", c.name}, {"arguments", c.arguments}}}});
          msg["tool_calls"] = std::move(calls);
        }
        out.push_back(std::move(msg));
        break;
      }
      case chat_role::tool:
        out.push_back({{"role", "tool"},
                       {"tool_call_id", m.tool_call_id},
                       {"content", m.content}});
        break;
    }
  }
  return out;
}

/// Anthropic: one system prompt up front; user and assistant turns
/// alternate, each a list of content blocks; tool results travel in user
/// turns; a system note mid-conversation becomes user text.
void anthropic_messages(const chat_request& req, json& body) {
  std::string system;
  json out = json::array();
  bool leading = true;
  auto append = [&](const char* role, json block) {
    if (out.empty() || out.back()["role"] != role)
      out.push_back({{"role", role}, {"content", json::array()}});
    out.back()["content"].push_back(std::move(block));
  };
  for (auto& m : req.messages) {
    if (m.role == chat_role::system && leading) {
      system += (system.empty() ? "" : "\n\n") + m.content;
      continue;
    }
    leading = false;
    switch (m.role) {
      case chat_role::system:
        append("user", {{"type", "text"}, {"text", "System note: " + m.content}});
        break;
      case chat_role::user:
        append("user", {{"type", "text"}, {"text", m.content}});
        break;
      case chat_role::assistant:
        if (!m.content.empty())
          append("assistant", {{"type", "text"}, {"text", m.content}});
        for (auto& c : m.tool_calls)
          append("assistant", {{"type", "tool_use"},
                               {"id", c.id},
                               {"name", c.name},
                               {"input", object_or_empty(c.arguments)}});
        break;
      case chat_role::tool: {
        json block{{"type", "tool_result"},
                   {"tool_use_id", m.tool_call_id},
                   {"content", m.content}};
        if (is_error_result(m.content))
          block["is_error"] = true;
        append("user", std::move(block));
        break;
      }
    }
  }
  if (!system.empty())
    body["system"] = system;
  body["messages"] = std::move(out);
}

result<chat_response> parse_openai(const json& j) {
  auto* choices = find(j, "choices");
  if (!choices || !choices->is_array() || choices->empty())
    return bad("the model's answer has no choices");
  auto* msg = find((*choices)[0], "message");
  if (!msg || !msg->is_object())
    return bad("the model's answer has no message");
  chat_response out;
  out.content = string_at(*msg, "content");
  if (auto* calls = find(*msg, "tool_calls"); calls && calls->is_array()) {
    for (auto& c : *calls) {
      auto* fn = find(c, "function");
      if (!fn)
        return bad("the model sent a tool call without a function");
      auto name = string_at(*fn, "name");
      if (name.empty())
        return bad("the model sent a tool call without a name");
      auto args = checked_arguments(name, string_at(*fn, "arguments"));
      if (!args)
        return args.error();
      out.tool_calls.push_back({string_at(c, "id"), name, std::move(*args)});
    }
  }
  if (auto* usage = find(j, "usage")) {
    out.usage.prompt = number_at(*usage, "prompt_tokens");
    out.usage.completion = number_at(*usage, "completion_tokens");
  }
  return out;
}

result<chat_response> parse_anthropic(const json& j) {
  if (string_at(j, "type") == "error")
    return bad("the model API reported an error: " + error_message(dump(j)));
  auto* content = find(j, "content");
  if (!content || !content->is_array())
    return bad("the model's answer has no content");
  chat_response out;
  for (auto& block : *content) {
    auto type = string_at(block, "type");
    if (type == "text") {
      out.content += string_at(block, "text");
    } else if (type == "tool_use") {
      auto name = string_at(block, "name");
      auto* input = find(block, "input");
      if (name.empty() || !input || !input->is_object())
        return bad("the model sent a tool_use block without a name or an "
                   "input object");
      out.tool_calls.push_back({string_at(block, "id"), name, dump(*input)});
    }
  }
  if (auto* usage = find(j, "usage")) {
    out.usage.prompt = number_at(*usage, "input_tokens");
    out.usage.completion = number_at(*usage, "output_tokens");
  }
  return out;
}

} // namespace

const char* to_string(wire_format x) noexcept {
  return x == wire_format::openai ? "openai" : "anthropic";
}

std::string request_body(wire_format f, const chat_request& req,
                         const model_settings& s) {
  json body{{"model", req.model.empty() ? s.model : req.model},
            {"stream", s.stream}};
  // The agent's output schema, parsed (validated when the agent was
  // configured).
  json schema = req.response_schema.empty()
                  ? json{}
                  : parse_json(req.response_schema, "the output schema")
                      .value_or(json::object());
  if (f == wire_format::openai) {
    if (!schema.is_null())
      body["response_format"] = {
        {"type", "json_schema"},
        {"json_schema",
         {{"name", "answer"}, {"schema", schema}, {"strict", false}}}};
    body["messages"] = openai_messages(req);
    if (s.stream)
      body["stream_options"] = {{"include_usage", true}};
    if (s.max_tokens > 0)
      body["max_tokens"] = s.max_tokens;
    if (!req.tools.empty()) {
      json tools = json::array();
      for (auto& t : req.tools)
        tools.push_back({{"type", "function"},
                         {"function",
                          {{"name", t.name},
                           {"description", t.description},
                           {"parameters", object_or_empty(t.parameters)}}}});
      body["tools"] = std::move(tools);
    }
  } else {
    body["max_tokens"] = s.max_tokens > 0 ? s.max_tokens : 1024;
    anthropic_messages(req, body);
    if (!req.tools.empty()) {
      json tools = json::array();
      for (auto& t : req.tools)
        tools.push_back({{"name", t.name},
                         {"description", t.description},
                         {"input_schema", object_or_empty(t.parameters)}});
      body["tools"] = std::move(tools);
    }
    if (!schema.is_null()) {
      // Anthropic has no response format: the answer is the input of a
      // tool the model must call last, its schema the output's.
      body["tools"].push_back(
        {{"name", final_answer_tool},
         {"description",
          "Give your final answer: call this once you have it, with the "
          "answer as the input."},
         {"input_schema", schema.is_object() ? schema : json::object()}});
      body["tool_choice"] = {{"type", "any"}};
    }
  }
  return dump(body);
}

result<chat_response> parse_response(wire_format f, std::string_view body) {
  auto j = parse_object(body, "the model's answer");
  if (!j)
    return bad(j.error().message);
  if (auto* err = find(*j, "error"); err && f == wire_format::openai)
    return bad("the model API reported an error: " + error_message(body));
  return f == wire_format::openai ? parse_openai(*j) : parse_anthropic(*j);
}

std::string error_message(std::string_view body) {
  auto j = parse_json(body, "an error body").value_or(json{});
  if (auto* err = find(j, "error")) {
    if (err->is_string())
      return err->get<std::string>();
    auto msg = string_at(*err, "message");
    auto type = string_at(*err, "type");
    if (!msg.empty())
      return type.empty() ? msg : type + ": " + msg;
  }
  if (auto msg = string_at(j, "message"); !msg.empty())
    return msg;
  // Something else (an HTML error page, a proxy's text): an excerpt.
  std::string out;
  for (char c : body.substr(0, 200))
    out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  if (body.size() > 200)
    out += "…";
  return out.empty() ? "(empty body)" : out;
}

result<bool> stream_assembler::on_event(const sse_event& e) {
  if (done_)
    return true; // anything after the end is ignored
  return format_ == wire_format::openai ? on_openai(e.data) : on_anthropic(e);
}

result<bool> stream_assembler::on_openai(std::string_view data) {
  if (data == "[DONE]") {
    done_ = true;
    return true;
  }
  auto j = parse_object(data, "a streamed chunk");
  if (!j)
    return bad("the model's stream sent " + j.error().message);
  if (find(*j, "error"))
    return bad("the model's stream reported an error: " + error_message(data));
  if (auto* usage = find(*j, "usage"); usage && usage->is_object()) {
    usage_.prompt = number_at(*usage, "prompt_tokens");
    usage_.completion = number_at(*usage, "completion_tokens");
  }
  auto* choices = find(*j, "choices");
  if (!choices || !choices->is_array() || choices->empty())
    return true; // e.g. the usage chunk
  auto* delta = find((*choices)[0], "delta");
  if (!delta)
    return true;
  content_ += string_at(*delta, "content");
  if (auto* calls = find(*delta, "tool_calls"); calls && calls->is_array()) {
    for (auto& c : *calls) {
      auto index = number_at(c, "index");
      auto& call = calls_[index];
      if (auto id = string_at(c, "id"); !id.empty())
        call.id = id;
      if (auto* fn = find(c, "function")) {
        call.name += string_at(*fn, "name");
        call.arguments += string_at(*fn, "arguments");
      }
    }
  }
  return true;
}

result<bool> stream_assembler::on_anthropic(const sse_event& e) {
  auto j = parse_object(e.data, "a streamed event");
  if (!j)
    return bad("the model's stream sent " + j.error().message);
  auto type = string_at(*j, "type");
  if (type.empty())
    type = e.event;
  if (type == "error")
    return bad("the model's stream reported an error: " + error_message(e.data));
  if (type == "message_start") {
    if (auto* msg = find(*j, "message"))
      if (auto* usage = find(*msg, "usage"))
        usage_.prompt = number_at(*usage, "input_tokens");
  } else if (type == "content_block_start") {
    auto* block = find(*j, "content_block");
    if (block && string_at(*block, "type") == "tool_use") {
      auto& call = calls_[number_at(*j, "index")];
      call.id = string_at(*block, "id");
      call.name = string_at(*block, "name");
    } else if (block && string_at(*block, "type") == "text") {
      content_ += string_at(*block, "text");
    }
  } else if (type == "content_block_delta") {
    auto* delta = find(*j, "delta");
    auto kind = delta ? string_at(*delta, "type") : std::string{};
    if (kind == "text_delta") {
      content_ += string_at(*delta, "text");
    } else if (kind == "input_json_delta") {
      auto it = calls_.find(number_at(*j, "index"));
      if (it == calls_.end())
        return bad("the model's stream sent tool input for a block it never "
                   "started");
      it->second.arguments += string_at(*delta, "partial_json");
    }
  } else if (type == "message_delta") {
    if (auto* usage = find(*j, "usage"))
      usage_.completion = number_at(*usage, "output_tokens");
  } else if (type == "message_stop") {
    done_ = true;
  }
  // ping, content_block_stop and event types added later: nothing to do.
  return true;
}

result<chat_response> stream_assembler::finish() {
  if (!done_)
    return bad("the model's stream ended before the answer was complete");
  chat_response out;
  out.content = std::move(content_);
  out.usage = usage_;
  for (auto& [index, call] : calls_) {
    if (call.name.empty())
      return bad("the model's stream sent a tool call without a name");
    auto args = checked_arguments(call.name, call.arguments);
    if (!args)
      return args.error();
    out.tool_calls.push_back({call.id, call.name, std::move(*args)});
  }
  return out;
}

void unwrap_final_answer(chat_response& x) {
  for (auto& c : x.tool_calls)
    if (c.name == final_answer_tool) {
      x.content = std::move(c.arguments);
      x.tool_calls.clear();
      return;
    }
}

} // namespace troupe::llm
