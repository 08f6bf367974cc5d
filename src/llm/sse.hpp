#pragma once

// An incremental parser for Server-Sent Events (the WHATWG event-stream
// format) as model APIs stream them: bytes arrive in arbitrary chunks, an
// event ends at a blank line, `data:` lines join with '\n', lines beginning
// with ':' are comments. CAF-free.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace troupe::llm {

struct sse_event {
  /// The `event:` field ("" if none: the default "message").
  std::string event;
  std::string data;
};

class sse_parser {
public:
  /// `max_event_bytes` bounds one event (a runaway stream is an error, not
  /// unbounded memory).
  explicit sse_parser(size_t max_event_bytes = 8 << 20)
    : max_bytes_(max_event_bytes) {}

  /// Feeds the next bytes; appends every event they complete to `out`.
  /// Fails with `provider_failed` if an event grows past the bound.
  result<bool> feed(std::string_view chunk, std::vector<sse_event>& out);

  /// True if bytes of an unfinished event are held: a stream that ends now
  /// was cut mid-event.
  bool pending() const noexcept {
    return !line_.empty() || !data_.empty() || !event_.empty();
  }

private:
  void line(std::string_view l, std::vector<sse_event>& out);

  size_t max_bytes_;
  std::string line_;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  /// The previous chunk ended in '\r': a '\n' starting this one belongs
  /// to it.
  bool after_cr_ = false;
};

} // namespace troupe::llm
