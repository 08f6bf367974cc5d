#pragma once

// Test support: a model API on 127.0.0.1 that speaks the OpenAI Chat
// Completions and Anthropic Messages wire formats as documented — whole
// or streamed — with a script for failures (status codes, Retry-After,
// slow answers, streams cut short, garbage).

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "http/server.hpp"

namespace troupe::test {

class model_server {
public:
  /// What to do with one request; by default (`normal`) the model asks
  /// for the calculator on the user's question, then answers with the
  /// tool's result.
  struct plan {
    bool normal = true;
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    /// Streamed answer as raw bytes (used when not `normal` and status 200
    /// and the request asked for a stream).
    std::string raw_stream;
    /// Answer after this long (0: at once); if negative, wait for
    /// `release()`.
    std::chrono::milliseconds delay{0};
  };

  /// `script(n, request_json)` decides request n (0-based).
  using script_fn = std::function<plan(size_t, const nlohmann::json&)>;

  model_server();
  ~model_server();

  void script(script_fn f);

  uint16_t port() const;
  /// e.g. "http://127.0.0.1:PORT/v1".
  std::string base_url() const;

  /// Requests seen so far: path, headers (lower-case names), body.
  struct seen {
    std::string path;
    std::map<std::string, std::string, std::less<>> headers;
    nlohmann::json body;
  };
  std::vector<seen> requests() const;

  /// Answers the requests parked so far (a negative delay) normally.
  void release();

  /// Requests waiting for their answer right now, and the most at once.
  size_t waiting() const;
  size_t most_waiting() const;

private:
  void handle(http::request req, std::shared_ptr<http::reply> rep);
  void answer(const seen& s, const plan& p, std::shared_ptr<http::reply> rep);

  mutable std::mutex mutex_;
  script_fn script_;
  std::vector<seen> seen_;
  std::vector<std::pair<seen, std::shared_ptr<http::reply>>> parked_;
  std::vector<std::thread> delayed_;
  size_t waiting_ = 0;
  size_t most_waiting_ = 0;
  std::unique_ptr<http::server> server_;
};

/// An engine config whose primary provider of `kind` ("openai",
/// "anthropic") is `srv`, with the API key `secret` in the environment
/// variable `key_var`, short retry waits and a 5 s call timeout.
engine_config on_model_server(const model_server& srv, const std::string& kind,
                              bool stream, const char* key_var,
                              const std::string& secret);

/// The "normal" answer for `format` ("openai"/"anthropic") to `body`:
/// a calculator call for the user's question, or the tool's result.
nlohmann::json normal_answer(const std::string& format,
                             const nlohmann::json& body);

/// A daemon's `provider` setting (JSON) for `srv`: OpenAI format, whole
/// answers, no key, no retries, no fallback.
nlohmann::json provider_json(const model_server& srv);

/// An OpenAI Chat Completions response body answering `text`.
std::string text_answer(const std::string& text);

/// The SSE bytes that stream `answer` (as `normal_answer` gives it).
std::string as_stream(const std::string& format, const nlohmann::json& answer);

} // namespace troupe::test
