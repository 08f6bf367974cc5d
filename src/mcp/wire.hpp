#pragma once

// The MCP client's stdio framing and message helpers: one JSON-RPC message
// per line, read from an untrusted process. CAF-free.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/json.hpp"

namespace troupe::mcp {

/// Splits a byte stream into lines (without "\n" or "\r\n"); a line
/// longer than `max` bytes is dropped whole (reported once, as soon as it
/// is too long) and reading goes on after it.
struct line_reader {
  /// The unfinished line.
  std::string buf;
  /// Inside a line that is being dropped.
  bool dropping = false;

  /// Feeds the next bytes: `on_line(std::string)` gets each whole line and
  /// `on_drop()` each dropped one; either returns false to stop (the rest
  /// of `chunk` is then discarded).
  template <class OnLine, class OnDrop>
  void feed(std::string_view chunk, size_t max, OnLine&& on_line,
            OnDrop&& on_drop) {
    while (!chunk.empty()) {
      auto nl = chunk.find('\n');
      auto piece = chunk.substr(0, nl);
      chunk = nl == std::string_view::npos ? std::string_view{}
                                           : chunk.substr(nl + 1);
      if (dropping) {
        dropping = nl == std::string_view::npos;
        continue;
      }
      if (buf.size() + piece.size() > max) {
        buf.clear();
        dropping = nl == std::string_view::npos;
        if (!on_drop())
          return;
        continue;
      }
      buf.append(piece);
      if (nl == std::string_view::npos)
        return;
      std::string line;
      line.swap(buf);
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      if (!on_line(std::move(line)))
        return;
    }
  }

  void clear() {
    buf.clear();
    dropping = false;
  }
};

/// `obj[key]` if `obj` is an object with a string there, else "".
std::string string_at(const json& obj, const char* key);

/// The text items of an MCP content array, one per line (other items as
/// "[<type> content]"), for error messages.
std::string text_of(const json& content);

} // namespace troupe::mcp
