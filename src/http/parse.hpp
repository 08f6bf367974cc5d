#pragma once

// Reading one HTTP/1.1 request: Boost.Beast's parser with the server's
// limits, the answer to a request that cannot be read, and the conversion
// of Beast's message into a `request`. A connection runs these over the
// bytes it reads from its socket; `parse_request` runs them over bytes in
// memory, so the parsing the server does is testable (and fuzzable)
// without a socket. CAF-free.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/server.hpp"

namespace troupe::http {

/// Beast's parser of one request with its body in a string.
using request_parser =
  boost::beast::http::request_parser<boost::beast::http::string_body>;

/// The message `request_parser` produces.
using beast_request =
  boost::beast::http::request<boost::beast::http::string_body>;

/// Sets `cfg`'s limits on a fresh parser: the body (413 beyond) and the
/// request line with the headers (431 beyond).
void limit(request_parser& p, const server_config& cfg);

/// The answer to a request the parser refused with `ec`: 413 past the body
/// limit, 431 past the head limit, 400 for anything else malformed.
response refusal(const boost::beast::error_code& ec, const server_config& cfg);

/// `msg` as a `request` from peer `remote`: the target split into path and
/// query, header names in lower case (of a repeated header, the last).
request to_request(beast_request&& msg, std::string remote);

/// What `parse_request` made of some bytes. Neither `req` nor `error` set:
/// the bytes end inside a request (a connection waits for more).
struct parsed_request {
  /// Set when the bytes begin with a whole request.
  std::optional<request> req;
  /// Whether the connection stays open after answering `req`.
  bool keep_alive = false;
  /// Bytes the parser consumed; with `req`, where the next request starts.
  size_t used = 0;
  /// Set when the bytes are no request within the limits: the answer the
  /// server sends before it closes the connection.
  std::optional<response> error;
};

/// Parses the request at the start of `bytes` as a connection of a server
/// with `cfg` does.
parsed_request parse_request(std::string_view bytes, const server_config& cfg);

} // namespace troupe::http
