#include "support/model_server.hpp"

#include <algorithm>
#include <cstdlib>

#include "support/actors.hpp"

namespace troupe::test {

using nlohmann::json;

namespace {

/// The user's question in the last user turn: its text.
std::string last_user_text(const json& messages) {
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if ((*it)["role"] != "user")
      continue;
    auto& c = (*it)["content"];
    if (c.is_string())
      return c.get<std::string>();
    if (c.is_array())
      for (auto b = c.rbegin(); b != c.rend(); ++b)
        if ((*b)["type"] == "text")
          return (*b)["text"].get<std::string>();
  }
  return {};
}

/// "What is 17 * 23 + 4? …" → "17 * 23 + 4".
std::string expression_of(const std::string& question) {
  auto from = question.find("What is ");
  auto start = from == std::string::npos ? 0 : from + 8;
  auto end = question.find('?', start);
  return question.substr(start, end == std::string::npos ? end : end - start);
}

/// The result text of a calculator output ({"text": "395", …}).
std::string result_text(const std::string& output) {
  auto j = json::parse(output, nullptr, false);
  if (j.is_object() && j.contains("text"))
    return j["text"].get<std::string>();
  return output;
}

/// Splits `s` in two (streams send pieces).
std::pair<std::string, std::string> halves(const std::string& s) {
  auto mid = s.size() / 2;
  return {s.substr(0, mid), s.substr(mid)};
}

std::string data(const json& j) {
  return "data: " + j.dump() + "\n\n";
}

std::string event(const std::string& name, const json& j) {
  return "event: " + name + "\n" + data(j);
}

} // namespace

engine_config on_model_server(const model_server& srv, const std::string& kind,
                              bool stream, const char* key_var,
                              const std::string& secret) {
  setenv(key_var, secret.c_str(), 1);
  auto cfg = test_config();
  cfg.provider.kind = kind;
  cfg.provider.model = "test-model";
  cfg.provider.base_url = srv.base_url();
  cfg.provider.api_key_env = key_var;
  cfg.provider.stream = stream;
  cfg.provider.retry_base = std::chrono::milliseconds{5};
  cfg.provider.retry_max = std::chrono::seconds{2};
  cfg.provider.timeout = std::chrono::seconds{5};
  return cfg;
}

json provider_json(const model_server& srv) {
  return {{"kind", "openai"},
          {"model", "m"},
          {"base_url", srv.base_url()},
          {"api_key_env", ""},
          {"stream", false},
          {"max_retries", 0},
          {"fallback", json::array()}};
}

std::string text_answer(const std::string& text) {
  return json{{"id", "chatcmpl-t"},
              {"object", "chat.completion"},
              {"created", 0},
              {"model", "m"},
              {"choices",
               {{{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", text}}},
                 {"finish_reason", "stop"}}}},
              {"usage",
               {{"prompt_tokens", 9}, {"completion_tokens", 3},
                {"total_tokens", 12}}}}
    .dump();
}

json normal_answer(const std::string& format, const json& body) {
  auto& messages = body["messages"];
  if (format == "openai") {
    auto& last = messages.back();
    json message{{"role", "assistant"}};
    std::string finish = "stop";
    if (last["role"] == "tool") {
      message["content"] =
        "The answer is " + result_text(last["content"].get<std::string>()) + ".";
    } else {
      message["content"] = nullptr;
      message["tool_calls"] = json::array(
        {{{"id", "call_abc123"},
          {"type", "function"},
          {"function",
           {{"name", "calculator"},
            {"arguments",
             json{{"expression", expression_of(last_user_text(messages))}}.dump()}}}}});
      finish = "tool_calls";
    }
    return {{"id", "chatcmpl-1"},
            {"object", "chat.completion"},
            {"model", body["model"]},
            {"choices", json::array({{{"index", 0},
                                      {"message", message},
                                      {"finish_reason", finish}}})},
            {"usage", {{"prompt_tokens", 42}, {"completion_tokens", 7}}}};
  }
  // Anthropic: a tool_result in the last user turn means "answer now".
  std::string tool_output;
  bool has_result = false;
  auto& last = messages.back();
  if (last["content"].is_array())
    for (auto& b : last["content"])
      if (b["type"] == "tool_result") {
        has_result = true;
        tool_output = b["content"].get<std::string>();
      }
  json content = json::array();
  std::string stop = "end_turn";
  if (has_result) {
    content.push_back(
      {{"type", "text"}, {"text", "The answer is " + result_text(tool_output) + "."}});
  } else {
    content.push_back({{"type", "text"}, {"text", "Let me calculate."}});
    content.push_back({{"type", "tool_use"},
                       {"id", "toolu_01A"},
                       {"name", "calculator"},
                       {"input", {{"expression", expression_of(last_user_text(messages))}}}});
    stop = "tool_use";
  }
  return {{"id", "msg_01"},
          {"type", "message"},
          {"role", "assistant"},
          {"model", body["model"]},
          {"content", content},
          {"stop_reason", stop},
          {"usage", {{"input_tokens", 42}, {"output_tokens", 7}}}};
}

std::string as_stream(const std::string& format, const json& answer) {
  std::string out;
  if (format == "openai") {
    auto& msg = answer["choices"][0]["message"];
    auto chunk = [](json delta, json finish = nullptr) {
      return json{{"id", "chatcmpl-1"},
                  {"object", "chat.completion.chunk"},
                  {"choices", json::array({{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"finish_reason", finish}}})}};
    };
    out += data(chunk({{"role", "assistant"}, {"content", ""}}));
    if (msg.contains("tool_calls")) {
      auto& call = msg["tool_calls"][0];
      out += data(chunk({{"tool_calls",
                          json::array({{{"index", 0},
                                        {"id", call["id"]},
                                        {"type", "function"},
                                        {"function", {{"name", call["function"]["name"]},
                                                      {"arguments", ""}}}}})}}));
      auto [a, b] = halves(call["function"]["arguments"].get<std::string>());
      for (auto& piece : {a, b})
        out += data(chunk({{"tool_calls", json::array({{{"index", 0},
                                                        {"function", {{"arguments", piece}}}}})}}));
    } else {
      auto [a, b] = halves(msg["content"].get<std::string>());
      for (auto& piece : {a, b})
        out += data(chunk({{"content", piece}}));
    }
    out += data(chunk(json::object(), answer["choices"][0]["finish_reason"]));
    out += data({{"id", "chatcmpl-1"},
                 {"choices", json::array()},
                 {"usage", answer["usage"]}});
    out += "data: [DONE]\n\n";
    return out;
  }
  out += event("message_start",
               {{"type", "message_start"},
                {"message",
                 {{"id", "msg_01"},
                  {"type", "message"},
                  {"role", "assistant"},
                  {"content", json::array()},
                  {"usage", {{"input_tokens", answer["usage"]["input_tokens"]},
                             {"output_tokens", 1}}}}}});
  out += ": keep-alive comment\n\n";
  int index = 0;
  for (auto& block : answer["content"]) {
    if (block["type"] == "text") {
      out += event("content_block_start", {{"type", "content_block_start"},
                                           {"index", index},
                                           {"content_block", {{"type", "text"}, {"text", ""}}}});
      auto [a, b] = halves(block["text"].get<std::string>());
      for (auto& piece : {a, b})
        out += event("content_block_delta",
                     {{"type", "content_block_delta"},
                      {"index", index},
                      {"delta", {{"type", "text_delta"}, {"text", piece}}}});
    } else {
      out += event("content_block_start",
                   {{"type", "content_block_start"},
                    {"index", index},
                    {"content_block", {{"type", "tool_use"},
                                       {"id", block["id"]},
                                       {"name", block["name"]},
                                       {"input", json::object()}}}});
      auto [a, b] = halves(block["input"].dump());
      for (auto& piece : {a, b})
        out += event("content_block_delta",
                     {{"type", "content_block_delta"},
                      {"index", index},
                      {"delta", {{"type", "input_json_delta"}, {"partial_json", piece}}}});
    }
    out += event("content_block_stop", {{"type", "content_block_stop"}, {"index", index}});
    out += event("ping", {{"type", "ping"}});
    ++index;
  }
  out += event("message_delta", {{"type", "message_delta"},
                                 {"delta", {{"stop_reason", answer["stop_reason"]}}},
                                 {"usage", {{"output_tokens", answer["usage"]["output_tokens"]}}}});
  out += event("message_stop", {{"type", "message_stop"}});
  return out;
}

model_server::model_server() {
  http::server_config cfg;
  cfg.port = 0;
  auto srv = http::server::start(cfg, [this](http::request req,
                                             std::shared_ptr<http::reply> rep) {
    handle(std::move(req), std::move(rep));
  });
  if (!srv)
    throw std::runtime_error(srv.error().message);
  server_ = std::move(*srv);
}

model_server::~model_server() {
  for (auto& t : delayed_)
    t.join();
  {
    std::lock_guard guard{mutex_};
    parked_.clear();
  }
  server_.reset();
}

void model_server::script(script_fn f) {
  std::lock_guard guard{mutex_};
  script_ = std::move(f);
}

uint16_t model_server::port() const {
  return server_->port();
}

std::string model_server::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port()) + "/v1";
}

std::vector<model_server::seen> model_server::requests() const {
  std::lock_guard guard{mutex_};
  return seen_;
}

size_t model_server::waiting() const {
  std::lock_guard guard{mutex_};
  return waiting_;
}

size_t model_server::most_waiting() const {
  std::lock_guard guard{mutex_};
  return most_waiting_;
}

void model_server::handle(http::request req, std::shared_ptr<http::reply> rep) {
  seen s{req.path, req.headers, json::parse(req.body, nullptr, false)};
  plan p;
  {
    std::lock_guard guard{mutex_};
    auto n = seen_.size();
    seen_.push_back(s);
    if (script_)
      p = script_(n, s.body);
    ++waiting_;
    most_waiting_ = std::max(most_waiting_, waiting_);
    if (p.delay.count() < 0) {
      parked_.emplace_back(s, std::move(rep)); // until release()
      return;
    }
    if (p.delay.count() > 0) {
      delayed_.emplace_back([this, s, p, rep] {
        std::this_thread::sleep_for(p.delay);
        answer(s, p, rep);
      });
      return;
    }
  }
  answer(s, p, std::move(rep));
}

void model_server::release() {
  decltype(parked_) parked;
  {
    std::lock_guard guard{mutex_};
    parked.swap(parked_);
  }
  for (auto& [s, rep] : parked)
    answer(s, plan{}, rep);
}

void model_server::answer(const seen& s, const plan& p,
                          std::shared_ptr<http::reply> rep) {
  {
    std::lock_guard guard{mutex_};
    --waiting_;
  }
  auto format = s.path.find("/messages") != std::string::npos ? "anthropic" : "openai";
  bool stream = s.body.is_object() && s.body.value("stream", false);
  if (p.normal) {
    auto ans = normal_answer(format, s.body);
    if (!stream)
      return rep->send({200, "application/json", ans.dump(), {}});
    auto st = rep->open_stream();
    st->send_raw(as_stream(format, ans));
    st->close();
    return;
  }
  if (p.status == 200 && stream && !p.raw_stream.empty()) {
    auto st = rep->open_stream();
    st->send_raw(p.raw_stream);
    st->close();
    return;
  }
  rep->send({p.status, "application/json", p.body, p.headers});
}

} // namespace troupe::test
