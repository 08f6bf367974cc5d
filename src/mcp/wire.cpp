#include "mcp/wire.hpp"

namespace troupe::mcp {

std::string string_at(const json& obj, const char* key) {
  if (!obj.is_object())
    return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>()
                                            : std::string{};
}

std::string text_of(const json& content) {
  if (!content.is_array())
    return content.is_null() ? "(no content)" : dump(content);
  std::string out;
  for (auto& item : content) {
    if (!out.empty())
      out += "\n";
    auto type = string_at(item, "type");
    if (type == "text")
      out += string_at(item, "text");
    else
      out += "[" + (type.empty() ? std::string{"unknown"} : type) + " content]";
  }
  return out.empty() ? "(no content)" : out;
}

} // namespace troupe::mcp
