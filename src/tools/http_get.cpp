#include "tools/http_get.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>

#include <curl/curl.h>

#include "tools/checks.hpp"

namespace troupe::tools {

namespace {

using clock_type = std::chrono::steady_clock;

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string quote(std::string_view s) {
  return "'" + std::string{s} + "'";
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// A URL as libcurl's parser sees it: the same parser then fetches it, so
// the host checked is the host contacted.
struct target {
  std::string url;
  std::string scheme;
  std::string host;
};

result<target> parse_url(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr)
    return failure{errc::tool_failed, "out of memory parsing a URL"};
  struct guard {
    CURLU* u;
    ~guard() {
      curl_url_cleanup(u);
    }
  } g{u};
  if (auto rc = curl_url_set(u, CURLUPART_URL, url.c_str(), 0); rc != CURLUE_OK)
    return failure{errc::invalid_arguments,
                   "url " + quote(url) +
                     " is not a valid URL: " + curl_url_strerror(rc)};
  auto get = [&](CURLUPart part) {
    char* s = nullptr;
    std::string out;
    if (curl_url_get(u, part, &s, 0) == CURLUE_OK && s != nullptr)
      out = s;
    curl_free(s);
    return out;
  };
  target t{get(CURLUPART_URL), lower(get(CURLUPART_SCHEME)),
           lower(get(CURLUPART_HOST))};
  if (t.scheme != "http" && t.scheme != "https")
    return failure{errc::invalid_arguments,
                   "url " + quote(url) + " has the scheme " + quote(t.scheme) +
                     "; only http and https are allowed"};
  if (t.host.empty())
    return failure{errc::invalid_arguments,
                   "url " + quote(url) + " names no host"};
  return t;
}

// What one transfer collects; the callbacks' user data.
struct transfer {
  const context* ctx = nullptr;
  uint64_t max_bytes = 0;
  std::string body;
  bool too_large = false;
};

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<transfer*>(user);
  auto len = size * n;
  if (t->body.size() + len > t->max_bytes) {
    t->too_large = true;
    return 0; // makes curl end the transfer with CURLE_WRITE_ERROR
  }
  t->body.append(data, len);
  return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<transfer*>(user)->ctx->cancelled() ? 1 : 0;
}

// One request's handles, cleaned up in the right order.
struct handles {
  CURLM* multi = curl_multi_init();
  CURL* easy = curl_easy_init();
  bool added = false;

  ~handles() {
    if (added)
      curl_multi_remove_handle(multi, easy);
    if (easy != nullptr)
      curl_easy_cleanup(easy);
    if (multi != nullptr)
      curl_multi_cleanup(multi);
  }
};

struct hop_result {
  long status = 0;
  std::string content_type;
  std::string redirect;
  std::string body;
};

// Fetches `t.url` once, without following redirects, until `deadline`.
result<hop_result> fetch_once(const http_get_config& cfg, const target& t,
                              const context& ctx,
                              clock_type::time_point deadline) {
  // Declared before the handles: removing the easy handle (~handles) may
  // still call the progress callback and write the error buffer, so both
  // must outlive it (ASan found the callback reading a dead `tr`).
  transfer tr;
  tr.ctx = &ctx;
  tr.max_bytes = cfg.max_bytes;
  char errbuf[CURL_ERROR_SIZE] = {};
  handles h;
  if (h.multi == nullptr || h.easy == nullptr)
    return failure{errc::tool_failed, "cannot create a curl handle"};
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             deadline - clock_type::now())
      .count();
  };
  auto* e = h.easy;
  curl_easy_setopt(e, CURLOPT_URL, t.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_USERAGENT, "troupe-http_get");
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  // A declared length over the cap fails before any byte arrives; the
  // write callback catches bodies without one.
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                   static_cast<curl_off_t>(cfg.max_bytes));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &tr);
  curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(e, CURLOPT_XFERINFODATA, &tr);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   std::max(1L, static_cast<long>(left())));
  curl_multi_add_handle(h.multi, e);
  h.added = true;
  auto timed_out = [&] {
    return failure{errc::timeout, "fetching " + quote(t.url) +
                                    " did not finish in time (http_get "
                                    "timeout " +
                                    std::to_string(cfg.timeout_ms) +
                                    " ms, or the call's deadline)"};
  };
  auto cancelled = [&] {
    return failure{errc::cancelled,
                   "fetching " + quote(t.url) + " was cancelled"};
  };
  int cancel_fd = ctx.cancel ? ctx.cancel->fd() : -1;
  CURLcode code = CURLE_OK;
  for (;;) {
    int running = 0;
    curl_multi_perform(h.multi, &running);
    bool done = false;
    int queued = 0;
    while (auto* msg = curl_multi_info_read(h.multi, &queued))
      if (msg->msg == CURLMSG_DONE) {
        done = true;
        code = msg->data.result;
      }
    if (done)
      break;
    if (ctx.cancelled())
      return cancelled();
    auto ms = left();
    if (ms <= 0)
      return timed_out();
    // The cancellation eventfd wakes the wait at once; the progress
    // callback covers cancellation without one.
    curl_waitfd extra{cancel_fd, CURL_WAIT_POLLIN, 0};
    curl_multi_poll(h.multi, cancel_fd >= 0 ? &extra : nullptr,
                    cancel_fd >= 0 ? 1u : 0u,
                    static_cast<int>(std::min<long>(ms, 1000)), nullptr);
  }
  switch (code) {
    case CURLE_OK:
      break;
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
      if (tr.too_large || code == CURLE_FILESIZE_EXCEEDED)
        return failure{errc::too_large,
                       "the response from " + quote(t.url) + " has more than " +
                         std::to_string(cfg.max_bytes) + " bytes"};
      [[fallthrough]];
    default:
      if (code == CURLE_ABORTED_BY_CALLBACK)
        return cancelled();
      if (code == CURLE_OPERATION_TIMEDOUT)
        return timed_out();
      return failure{
        errc::tool_failed,
        "cannot fetch " + quote(t.url) + ": " +
          (errbuf[0] != '\0' ? std::string{errbuf} : curl_easy_strerror(code))};
  }
  hop_result out;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out.status);
  char* s = nullptr;
  if (curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &s) == CURLE_OK && s)
    out.content_type = s;
  s = nullptr;
  if (curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &s) == CURLE_OK && s)
    out.redirect = s;
  out.body = std::move(tr.body);
  return out;
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

result<json> http_get(const http_get_config& cfg, const std::string& url,
                      const context& ctx) {
  auto deadline =
    std::min(ctx.deadline,
             clock_type::now() + std::chrono::milliseconds{cfg.timeout_ms});
  auto t = parse_url(url);
  if (!t)
    return t.error();
  for (uint32_t hops = 0;; ++hops) {
    if (!host_allowed(cfg.allow_hosts, t->host))
      return failure{errc::forbidden,
                     "host " + quote(t->host) +
                       (hops > 0 ? " (a redirect's target)" : "") +
                       " is not in http_get's allow_hosts"};
    auto res = fetch_once(cfg, *t, ctx, deadline);
    if (!res)
      return res.error();
    if (is_redirect(res->status) && !res->redirect.empty()) {
      if (hops == cfg.max_redirects)
        return failure{errc::tool_failed,
                       "too many redirects: " + quote(t->url) +
                         " redirects again after " + std::to_string(hops) +
                         " (max_redirects " +
                         std::to_string(cfg.max_redirects) + ")"};
      auto next = parse_url(res->redirect);
      if (!next)
        return failure{errc::forbidden, "redirect from " + quote(t->url) +
                                          " refused: " + next.error().message};
      t = std::move(next);
      continue;
    }
    if (res->body.find('\0') != std::string::npos)
      return failure{
        errc::tool_failed,
        "the response from " + quote(t->url) + " is binary (" +
          (res->content_type.empty() ? "no content type" : res->content_type) +
          "); http_get returns text only"};
    json out;
    out["url"] = t->url;
    out["status"] = res->status;
    out["content_type"] = res->content_type;
    out["body"] = std::move(res->body);
    return out;
  }
}

} // namespace

result<bool> validate(const http_get_config& cfg) {
  for (auto& p : cfg.allow_hosts) {
    auto bad = [&](std::string why) {
      return failure{errc::invalid_config,
                     "allow_hosts entry " + quote(p) + " " + why};
    };
    if (p.empty() || p == "*.")
      return bad("is empty");
    std::string_view name = p;
    if (name.rfind("*.", 0) == 0)
      name.remove_prefix(2);
    if (name.find('*') != std::string_view::npos)
      return bad("may use '*' only as a leading \"*.\"");
    bool ipv6 = name.front() == '[' && name.back() == ']';
    if (name.find_first_of(ipv6 ? "/@ " : ":/@ ") != std::string_view::npos)
      return bad("must be a host name, without scheme, port or path");
  }
  if (auto ok = require_positive("max_bytes", cfg.max_bytes); !ok)
    return ok;
  if (auto ok = require_positive("timeout_ms", cfg.timeout_ms); !ok)
    return ok;
  if (cfg.max_redirects > 20)
    return failure{errc::invalid_config,
                   "max_redirects must be at most 20, got " +
                     std::to_string(cfg.max_redirects)};
  return true;
}

bool host_allowed(const std::vector<std::string>& allow_hosts,
                  std::string_view host) {
  auto h = lower(host);
  for (auto& pattern : allow_hosts) {
    auto p = lower(pattern);
    if (p.rfind("*.", 0) == 0) {
      auto suffix = std::string_view{p}.substr(1); // ".example.com"
      if (h.size() > suffix.size() &&
          std::string_view{h}.substr(h.size() - suffix.size()) == suffix)
        return true;
    } else if (h == p) {
      return true;
    }
  }
  return false;
}

entry http_get_tool(http_get_config cfg) {
  global_init();
  entry out;
  out.spec.name = "http_get";
  out.spec.description =
    "Fetches a text document with an HTTP GET request and returns its "
    "status, content type and body (at most " +
    std::to_string(cfg.max_bytes) +
    " bytes). Only http and https URLs on allowed hosts work; redirects are "
    "followed (at most " +
    std::to_string(cfg.max_redirects) + ").";
  out.spec.parameters =
    object_schema({{"url",
                    {{"type", "string"},
                     {"description", "The http or https URL to fetch."}}}},
                  {"url"});
  // A GET changes nothing (by HTTP's contract), so a retry is harmless.
  out.spec.idempotent = true;
  out.spec.permissions = {"network_access"};
  out.mode = run_mode::blocking;
  out.fn = [cfg = std::move(cfg)](const json& args,
                                  const context& ctx) -> result<json> {
    if (auto ok = only_args(args, {"url"}); !ok)
      return ok.error();
    auto url = string_arg(args, "url");
    if (!url)
      return url.error();
    return http_get(cfg, *url, ctx);
  };
  return out;
}

} // namespace troupe::tools
