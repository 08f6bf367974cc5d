#include "tools/checks.hpp"

namespace troupe::tools {

std::string object_schema(json properties, std::vector<std::string> required) {
  json schema{
    {"$schema", "http://json-schema.org/draft-07/schema#"},
    {"type", "object"},
    {"properties", std::move(properties)},
    {"additionalProperties", false},
  };
  // Draft 4 wants at least one name in `required`, if it is there.
  if (!required.empty())
    schema["required"] = std::move(required);
  return dump(schema);
}

result<bool> require_positive(std::string_view key, uint64_t value) {
  if (value == 0)
    return failure{errc::invalid_config,
                   std::string{key} + " must be greater than 0, got 0"};
  return true;
}

result<bool> require_directory(std::string_view key,
                               const std::filesystem::path& dir) {
  auto name = std::string{key} + " '" + dir.string() + "'";
  if (dir.empty())
    return failure{errc::invalid_config,
                   std::string{key} + " must not be empty"};
  std::error_code ec;
  auto st = std::filesystem::status(dir, ec);
  if (!std::filesystem::exists(st))
    return failure{errc::invalid_config, name + " does not exist"};
  if (!std::filesystem::is_directory(st))
    return failure{errc::invalid_config, name + " is not a directory"};
  return true;
}

} // namespace troupe::tools
