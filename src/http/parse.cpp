#include "http/parse.hpp"

#include <cctype>
#include <cstdint>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace troupe::http {

namespace bhttp = boost::beast::http;

void limit(request_parser& p, const server_config& cfg) {
  p.body_limit(cfg.max_body_bytes);
  p.header_limit(static_cast<uint32_t>(cfg.max_header_bytes));
}

response refusal(const boost::beast::error_code& ec, const server_config& cfg) {
  if (ec == bhttp::error::body_limit)
    return error_response(413, "payload_too_large",
                          "the request body is larger than " +
                            std::to_string(cfg.max_body_bytes) + " bytes");
  if (ec == bhttp::error::header_limit)
    return error_response(431, "headers_too_large",
                          "the request head is larger than " +
                            std::to_string(cfg.max_header_bytes) + " bytes");
  return error_response(400, "bad_request",
                        "malformed HTTP request: " + ec.message());
}

request to_request(beast_request&& msg, std::string remote) {
  request req;
  req.method = std::string{msg.method_string()};
  auto target = std::string{msg.target()};
  auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos)
    req.query = target.substr(q + 1);
  for (auto& field : msg) {
    auto name = std::string{field.name_string()};
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers[name] = std::string{field.value()};
  }
  req.body = std::move(msg.body());
  req.remote = std::move(remote);
  return req;
}

parsed_request parse_request(std::string_view bytes, const server_config& cfg) {
  request_parser p;
  limit(p, cfg);
  // As Beast's async_read sets it: one put() reads on past the head into
  // the body, as far as the bytes go.
  p.eager(true);
  parsed_request out;
  boost::beast::error_code ec;
  out.used = p.put(boost::asio::const_buffer{bytes.data(), bytes.size()}, ec);
  // Beast asks for more (need_more, or stops with the request unfinished);
  // a connection would read on, and put() again only with more bytes: it
  // keeps state about the bytes it left unconsumed.
  if (ec == bhttp::error::need_more || (!ec && !p.is_done()))
    return out;
  if (ec) {
    out.error = refusal(ec, cfg);
    return out;
  }
  auto msg = p.release();
  out.keep_alive = msg.keep_alive();
  out.req = to_request(std::move(msg), {});
  return out;
}

} // namespace troupe::http
