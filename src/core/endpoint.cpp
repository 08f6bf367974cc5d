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

bool loopback_host(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "::1")
    return true;
  // 127.a.b.c, each part a decimal 0..255.
  if (host.substr(0, 4) != "127.")
    return false;
  int parts = 2; // "127." and the one being read
  int value = 0;
  int digits = 0;
  for (auto c : host.substr(4)) {
    if (c == '.') {
      if (digits == 0)
        return false;
      ++parts;
      value = 0;
      digits = 0;
    } else if (c >= '0' && c <= '9' && digits < 3) {
      value = value * 10 + (c - '0');
      ++digits;
      if (value > 255)
        return false;
    } else {
      return false;
    }
  }
  return parts == 4 && digits > 0;
}

} // namespace troupe
