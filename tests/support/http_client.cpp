#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>

namespace troupe::test {

namespace {

int connect_local(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

} // namespace

std::string raw_exchange(uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  int fd = connect_local(port);
  if (fd < 0)
    return {};
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  until - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

std::optional<http_response> parse_response(const std::string& raw) {
  auto head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos)
    return std::nullopt;
  http_response res;
  res.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    auto eol = raw.find("\r\n", pos);
    auto line = raw.substr(pos, eol - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      auto name = line.substr(0, colon);
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(0, 1);
      res.headers[name] = value;
    }
    pos = eol + 2;
  }
  res.body = raw.substr(head_end + 4);
  return res;
}

std::optional<http_response>
http_call(uint16_t port, const std::string& method, const std::string& path,
          const std::string& body,
          const std::vector<std::pair<std::string, std::string>>& headers,
          std::chrono::milliseconds deadline) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (auto& [k, v] : headers)
    req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "Connection: close\r\n\r\n" + body;
  return parse_response(raw_exchange(port, req, deadline));
}

std::vector<sse_event> parse_sse(const std::string& body) {
  std::vector<sse_event> out;
  size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find("\n\n", pos);
    if (end == std::string::npos)
      break;
    auto block = body.substr(pos, end - pos);
    pos = end + 2;
    sse_event e;
    size_t lp = 0;
    while (lp <= block.size()) {
      auto nl = block.find('\n', lp);
      auto line = block.substr(lp, nl == std::string::npos ? nl : nl - lp);
      if (line.rfind("event: ", 0) == 0)
        e.event = line.substr(7);
      else if (line.rfind("id: ", 0) == 0)
        e.id = line.substr(4);
      else if (line.rfind("data: ", 0) == 0)
        e.data += (e.data.empty() ? "" : "\n") + line.substr(6);
      if (nl == std::string::npos)
        break;
      lp = nl + 1;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::pair<std::string, std::string>>
parse_events(const std::string& body) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& e : parse_sse(body))
    out.emplace_back(std::move(e.event), std::move(e.data));
  return out;
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

} // namespace troupe::test
