#include "core/json.hpp"

namespace troupe {

std::string dump(const json& x) {
  return x.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<json> parse_object(std::string_view text, std::string_view what) {
  auto parsed = json::parse(text.begin(), text.end(), nullptr, false);
  if (parsed.is_discarded())
    return failure{errc::invalid_input,
                   std::string{what} + " is not valid JSON"};
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
