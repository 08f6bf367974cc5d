#include "core/keys.hpp"

#include <algorithm>

namespace troupe {

failure config_error(std::string message) {
  return failure{errc::invalid_config, std::move(message)};
}

std::string key_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string range_text(int64_t min, int64_t max) {
  // A top beyond 2^32 is a guard against overflow, not advice.
  if (max >= (int64_t{1} << 32))
    return min == 1 ? "> 0" : ">= " + std::to_string(min);
  return "in " + std::to_string(min) + ".." + std::to_string(max);
}

std::optional<failure> integer_in(const json& v, const std::string& path,
                                  int64_t min, int64_t max) {
  if (!v.is_number_integer() || v.get<int64_t>() < min ||
      v.get<int64_t>() > max)
    return config_error(path + " must be an integer in " + std::to_string(min) +
                        ".." + std::to_string(max) + ", got " + dump(v));
  return std::nullopt;
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= text.size();) {
    auto comma = std::min(text.find(',', at), text.size());
    if (comma > at)
      out.emplace_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

} // namespace troupe
