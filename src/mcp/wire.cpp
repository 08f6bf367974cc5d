#include "mcp/wire.hpp"

namespace troupe::mcp {

std::string string_at(const json& obj, const char* key) {
  if (!obj.is_object())
    return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>()
                                            : std::string{};
}

bool too_deep(std::string_view line, size_t max) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    auto c = line[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max)
        return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
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
