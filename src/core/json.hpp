#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.hpp"

namespace troupe {

using json = nlohmann::json;

/// Serializes `x` compactly; invalid UTF-8 is replaced, never thrown on.
std::string dump(const json& x);

/// Parses `text` as a JSON object. Errors name what was wrong and where
/// (`what` says which input this is, e.g. "tool arguments").
/// `comments`: allow // and /* */ comments (config files).
result<json> parse_object(std::string_view text, std::string_view what,
                          bool comments = false);

/// An error object `{"error": message, "code": name}` as JSON text.
std::string error_json(const failure& f);

} // namespace troupe
