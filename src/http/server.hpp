#pragma once

// A small asynchronous HTTP/1.1 server (Boost.Beast over asio): a few I/O
// threads hold any number of connections, no thread per connection. Each
// parsed request goes to one handler, which answers through a `reply` —
// at once or later, from any thread — so a request can wait on an actor
// without a thread waiting with it. A reply can also become a stream of
// Server-Sent Events. CAF-free.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace troupe::http {

/// One parsed request.
struct request {
  std::string method;
  /// Path without the query, e.g. "/v1/tasks/7".
  std::string path;
  /// The raw query string after '?', if any.
  std::string query;
  /// Header names in lower case.
  std::map<std::string, std::string, std::less<>> headers;
  std::string body;
  /// The peer's address, "ip:port".
  std::string remote;

  /// The header's value, or "" if absent.
  std::string_view header(std::string_view name) const;
};

/// One response.
struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// Extra headers, e.g. {"Retry-After", "1"}.
  std::vector<std::pair<std::string, std::string>> headers;
};

/// An open event stream (`text/event-stream`). Thread-safe; sends after the
/// client went away are dropped.
/// One server-sent event as it goes on the wire: `id:` (if not empty),
/// `event:` (if not empty), a `data:` line per line of `data`, a blank
/// line.
std::string sse_format(std::string_view event, std::string_view data,
                       std::string_view id = {});

class event_stream {
public:
  virtual ~event_stream() = default;

  /// Queues one event (`id:` if given, `event:` and `data:` lines; `data`
  /// may span lines). False if the stream is closed.
  bool send(std::string_view event, std::string_view data,
            std::string_view id = {});

  /// Queues bytes as they are (e.g. half an event, for tests of clients
  /// that must cope with a stream cut short). False if closed.
  virtual bool send_raw(std::string_view bytes) = 0;

  /// Ends the stream (the connection closes once the queue is written).
  virtual void close() = 0;

  /// True once the client went away or `close` was called.
  virtual bool closed() const = 0;
};

/// The answer to one request. Exactly one of `send` or `open_stream` takes
/// effect (the first); both may be called from any thread.
class reply {
public:
  virtual ~reply() = default;
  virtual void send(response res) = 0;
  /// Answers 200 with `text/event-stream` and keeps the connection for
  /// events.
  virtual std::shared_ptr<event_stream> open_stream() = 0;
};

using handler =
  std::function<void(request, std::shared_ptr<reply>)>;

struct server_config {
  std::string host = "127.0.0.1";
  /// 0: any free port (see `server::port`).
  uint16_t port = 8080;
  unsigned io_threads = 1;
  /// Largest request body; a larger one is answered 413.
  size_t max_body_bytes = 1 << 20;
  /// Largest request head (request line and headers): 431 beyond.
  size_t max_header_bytes = 16 << 10;
  /// A request must arrive within this time (slow clients are cut off,
  /// 408); also bounds each write.
  std::chrono::milliseconds io_timeout{30000};
  /// An idle keep-alive connection closes after this.
  std::chrono::milliseconds idle_timeout{60000};
  /// Beyond this many open connections, new ones get 503 and are closed.
  size_t max_connections = 20000;
};

/// What the server has seen (for metrics).
struct server_stats {
  uint64_t connections_open = 0;
  uint64_t connections_total = 0;
  uint64_t requests_total = 0;
  uint64_t streams_open = 0;
};

class server {
public:
  /// Binds, listens and starts the I/O threads. Fails with
  /// `invalid_config` if the address cannot be bound.
  static result<std::unique_ptr<server>> start(server_config cfg,
                                               handler on_request);

  /// Stops accepting and closes every connection; joins the threads.
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The port bound (useful when the config said 0).
  uint16_t port() const;

  /// Stops accepting new connections; open ones carry on.
  void stop_accepting();

  server_stats stats() const;

  struct impl;

private:
  explicit server(std::unique_ptr<impl> im);
  std::unique_ptr<impl> impl_;
};

/// A JSON error body: {"error": {"code": code, "message": message}}.
response error_response(int status, std::string_view code,
                        std::string_view message);

} // namespace troupe::http
