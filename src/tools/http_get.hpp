#pragma once

// The `http_get` tool: fetches a text document over http or https from an
// allowlisted host (libcurl easy handle, driven by a private multi handle so
// the call's cancellation fd wakes it). Redirects are followed by hand so
// every hop's host is checked. CAF-free.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "tools/tool.hpp"

namespace troupe::tools {

/// Which hosts `http_get` may reach, and how much it fetches.
struct http_get_config {
  /// Hosts the tool may fetch from: an exact name ("example.com",
  /// "127.0.0.1", "[::1]") or "*.example.com" (any subdomain of
  /// example.com, not example.com itself). Case-insensitive. Empty: every
  /// request is refused.
  std::vector<std::string> allow_hosts;
  /// Largest response body (after content decoding).
  uint64_t max_bytes = 1 << 20;
  /// Time for the whole call, redirects included (the call's deadline
  /// shortens it).
  uint32_t timeout_ms = 10000;
  /// Most redirects followed.
  uint32_t max_redirects = 3;
};

/// Checks `cfg`: host patterns non-empty, without scheme, path, port or
/// any '*' other than a leading "*."; limits positive (max_redirects may be
/// 0, at most 20). Fails with `invalid_config`.
result<bool> validate(const http_get_config& cfg);

/// True if `host` (as in a URL, lower-cased) matches a pattern of
/// `allow_hosts`.
bool host_allowed(const std::vector<std::string>& allow_hosts,
                  std::string_view host);

/// The `http_get` tool (permission `network_access`): `{"url"}` in,
/// `{"url" (after redirects), "status", "content_type", "body"}` out. Any
/// HTTP status is a result; failures: `invalid_arguments` (not an http or
/// https URL), `forbidden` (a host, also a redirect's, not allowed),
/// `too_large` (body over `max_bytes`), `timeout`, `cancelled`, and
/// `tool_failed` (transport errors, too many redirects, binary bodies —
/// bodies with NUL bytes are refused rather than returned as base64).
entry http_get_tool(http_get_config cfg);

} // namespace troupe::tools
