#include "core/json.hpp"

namespace troupe {

std::string dump(const json& x) {
  return x.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<json> parse_object(std::string_view text, std::string_view what,
                          bool comments) {
  json parsed;
  try {
    parsed = json::parse(text.begin(), text.end(), nullptr, true, comments);
  } catch (const json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line
    // 1, column 14: syntax error …": keep what follows the bracket.
    std::string why = e.what();
    if (auto end = why.find("] "); end != std::string::npos)
      why.erase(0, end + 2);
    return failure{errc::invalid_input,
                   std::string{what} + " is not valid JSON: " + why};
  }
  if (!parsed.is_object())
    return failure{errc::invalid_input, std::string{what} +
                                          " must be a JSON object, got " +
                                          parsed.type_name()};
  return parsed;
}

std::string error_json(const failure& f) {
  json j;
  j["error"] = f.message;
  j["code"] = std::string{to_string(f.code)};
  return dump(j);
}

} // namespace troupe
