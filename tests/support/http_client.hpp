#pragma once

// Test support: a plain HTTP/1.1 client over a socket to 127.0.0.1, so tests
// can send anything — valid requests, malformed ones, half of one — and
// read the answer with a deadline.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace troupe::test {

struct http_response {
  int status = 0;
  /// Header names in lower case.
  std::map<std::string, std::string> headers;
  std::string body;
};

/// Sends `bytes` as they are and reads until the server closes the
/// connection or `deadline` passes; returns what arrived.
std::string raw_exchange(uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds deadline =
                           std::chrono::seconds{10});

/// Parses a response (status line, headers, body); nothing if it is not
/// one.
std::optional<http_response> parse_response(const std::string& raw);

/// One request with `Connection: close`; headers as given.
std::optional<http_response>
http_call(uint16_t port, const std::string& method, const std::string& path,
          const std::string& body = {},
          const std::vector<std::pair<std::string, std::string>>& headers = {},
          std::chrono::milliseconds deadline = std::chrono::seconds{10});

/// The events of a text/event-stream body: (event, data) in order.
std::vector<std::pair<std::string, std::string>>
parse_events(const std::string& body);

/// One server-sent event with its id ("" if none).
struct sse_event {
  std::string id;
  std::string event;
  std::string data;
};

/// The events of a text/event-stream body, with their ids, in order.
std::vector<sse_event> parse_sse(const std::string& body);

/// A port that was free a moment ago (for servers that need one given).
uint16_t free_port();

} // namespace troupe::test
