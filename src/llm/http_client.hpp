#pragma once

// Outbound HTTP on libcurl's multi interface, on one I/O thread of its own:
// any number of requests in flight, connections reused, connect and total
// timeouts, cancellation. Callers never wait: body bytes and the end of
// each request arrive as callbacks on the I/O thread (keep them short —
// e.g. send a message to an actor). Headers are never logged or put in
// errors (they carry API keys). CAF-free.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::llm {

struct http_request {
  std::string method = "POST";
  std::string url;
  /// "Name: value" each.
  std::vector<std::string> headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds total_timeout{120000};
};

struct http_reply {
  /// HTTP status; 0 if no answer came (see `error`).
  long status = 0;
  /// Header names in lower case (the last value of each).
  std::map<std::string, std::string> headers;
  /// The body, unless it went to the chunk callback (a 2xx answer with
  /// one); capped at `max_kept_body` bytes.
  std::string body;
  /// What went wrong in transport ("" if the exchange completed).
  std::string error;
  bool timed_out = false;
  bool cancelled = false;
};

class http_client {
public:
  /// Most bytes of a body kept in `http_reply::body`.
  static constexpr size_t max_kept_body = 1 << 20;

  /// Body bytes of a 2xx answer, as they arrive; return false to abort.
  using chunk_fn = std::function<bool(std::string_view)>;
  using done_fn = std::function<void(http_reply)>;

  /// Starts the I/O thread.
  http_client();

  /// Ends every request in flight (`cancelled`) and stops the thread.
  ~http_client();

  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// Starts a request; `chunk` may be empty (the body is then kept).
  /// `done` runs exactly once. Thread-safe.
  uint64_t start(http_request req, chunk_fn chunk, done_fn done);

  /// Ends a request early (its `done` says `cancelled`). Thread-safe.
  void cancel(uint64_t id);

  /// Requests started and not yet done.
  size_t in_flight() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

/// Milliseconds a `Retry-After` header asks to wait (seconds, or an
/// HTTP-date), or nothing if absent or unreadable.
std::optional<std::chrono::milliseconds>
retry_after(const std::map<std::string, std::string>& headers);

} // namespace troupe::llm
