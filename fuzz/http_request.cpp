// The HTTP server's request parsing (http::parse_request: Beast's parser
// with the server's limits, and the conversion its connections make of
// each message), over pipelined requests as one connection reads them.
// The first byte picks the limits: the server's defaults or small ones.

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json.hpp"
#include "http/parse.hpp"
#include "support.hpp"

using namespace troupe;

namespace {

/// Most requests read from one input (a connection would go on).
constexpr int max_requests = 16;

http::server_config limits(uint8_t b) {
  http::server_config cfg;
  if (b & 1) {
    cfg.max_body_bytes = 1 + (b >> 1) * 4;
    cfg.max_header_bytes = 64 + (b >> 1) * 8;
  }
  return cfg;
}

void check_request(const http::request& req, const http::server_config& cfg) {
  if (req.path.find('?') != std::string::npos)
    fuzz::broken("a request path that still holds its query");
  if (req.body.size() > cfg.max_body_bytes)
    fuzz::broken("a request body over the body limit");
  for (auto& [name, value] : req.headers)
    for (char c : name)
      if (std::isupper(static_cast<unsigned char>(c)))
        fuzz::broken("a header name that is not in lower case");
}

void check_refusal(const http::response& res) {
  if (res.status != 400 && res.status != 413 && res.status != 431)
    fuzz::broken("a refused request answered other than 400, 413 or 431");
  if (!parse_object(res.body, "error body"))
    fuzz::broken("a refusal whose body is not a JSON object");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::reader in{data, size};
  auto cfg = limits(in.byte());
  auto bytes = in.rest();
  for (int i = 0; i < max_requests && !bytes.empty(); ++i) {
    auto parsed = http::parse_request(bytes, cfg);
    if (parsed.used > bytes.size())
      fuzz::broken("the parser used more bytes than it was given");
    if (parsed.error) {
      if (parsed.req)
        fuzz::broken("both a request and a refusal");
      check_refusal(*parsed.error);
      return 0; // the server answers and closes
    }
    if (!parsed.req)
      return 0; // the bytes end mid-request: the server would wait
    if (parsed.used == 0)
      fuzz::broken("a request read from no bytes");
    check_request(*parsed.req, cfg);
    if (!parsed.keep_alive)
      return 0; // the server closes after answering
    bytes.remove_prefix(parsed.used);
  }
  return 0;
}
