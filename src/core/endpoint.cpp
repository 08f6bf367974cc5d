#include "core/endpoint.hpp"

namespace troupe {

std::optional<std::pair<std::string, uint16_t>>
parse_endpoint(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
    return std::nullopt;
  auto port_str = s.substr(colon + 1);
  if (port_str.find_first_not_of("0123456789") != std::string::npos ||
      port_str.size() > 5)
    return std::nullopt;
  auto port = std::stoul(port_str);
  if (port > 65535)
    return std::nullopt;
  return std::pair{s.substr(0, colon), static_cast<uint16_t>(port)};
}

} // namespace troupe
