#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.hpp"

namespace troupe {

using json = nlohmann::json;

/// Serializes `x` compactly; invalid UTF-8 is replaced, never thrown on.
std::string dump(const json& x);

/// Bounds on JSON read from outside. nlohmann's dump, compare and copy
/// recurse: a value nested deeper than `max_depth` is refused while it is
/// read, before anything can walk it.
struct parse_limits {
  /// Most levels of arrays and objects (the outermost is level 1).
  size_t max_depth = 64;
  /// Most bytes of text.
  size_t max_bytes = size_t{16} << 20;
  /// Refuse an object that has the same key twice (nlohmann would keep the
  /// last silently).
  bool unique_keys = true;
  /// Allow // and /* */ comments (config files).
  bool comments = false;
};

/// Parses untrusted `text`: the one way JSON from outside enters the
/// engine. Errors are `invalid_input` and say what was wrong and where, as
/// a JSON pointer (`what` names the input, e.g. "request body").
result<json> parse_json(std::string_view text, std::string_view what,
                        const parse_limits& limits = {});

/// `parse_json`, and the value must be an object.
result<json> parse_object(std::string_view text, std::string_view what,
                          const parse_limits& limits = {});

/// An error object `{"error": message, "code": name}` as JSON text.
std::string error_json(const failure& f);

} // namespace troupe
