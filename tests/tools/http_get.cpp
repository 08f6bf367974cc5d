// The http_get tool against a local server: allowlisted and forbidden
// hosts, redirects (checked hop by hop), size cap, deadline, cancellation.

#include "tools/http_get.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "http/server.hpp"

using namespace troupe;
using namespace troupe::tools;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

// Requests to /slow park here unanswered until the test ends.
struct parked {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::shared_ptr<http::reply>> replies;

  bool wait_for_one(std::chrono::milliseconds limit) {
    std::unique_lock lock{mtx};
    return cv.wait_for(lock, limit, [&] { return !replies.empty(); });
  }
};

http::response
answer(int status, std::string type, std::string body,
       std::vector<std::pair<std::string, std::string>> headers = {}) {
  http::response r;
  r.status = status;
  r.content_type = std::move(type);
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

struct fixture {
  std::shared_ptr<parked> slow = std::make_shared<parked>();
  std::shared_ptr<std::atomic<uint16_t>> port =
    std::make_shared<std::atomic<uint16_t>>(0);
  std::unique_ptr<http::server> srv;
  http_get_config cfg;

  fixture() {
    http::server_config sc;
    sc.host = "127.0.0.1";
    sc.port = 0;
    auto s = http::server::start(
      sc, [slow = slow, port = port](http::request req,
                                     std::shared_ptr<http::reply> rep) {
        auto here = "http://127.0.0.1:" + std::to_string(port->load());
        if (req.path == "/ok")
          rep->send(answer(200, "text/plain; charset=utf-8", "hello"));
        else if (req.path == "/missing")
          rep->send(answer(404, "text/plain", "no such page"));
        else if (req.path == "/big")
          rep->send(answer(200, "text/plain", std::string(2000, 'x')));
        else if (req.path == "/bin")
          rep->send(answer(200, "image/png", std::string("\x89PNG\0\0", 6)));
        else if (req.path == "/in")
          rep->send(answer(302, "text/plain", "", {{"Location", "/ok"}}));
        else if (req.path == "/out")
          rep->send(answer(
            302, "text/plain", "",
            {{"Location",
              "http://localhost:" + std::to_string(port->load()) + "/ok"}}));
        else if (req.path == "/file")
          rep->send(answer(302, "text/plain", "",
                           {{"Location", "file:///etc/passwd"}}));
        else if (req.path == "/loop")
          rep->send(
            answer(302, "text/plain", "", {{"Location", here + "/loop"}}));
        else if (req.path == "/slow") {
          std::lock_guard lock{slow->mtx};
          slow->replies.push_back(std::move(rep));
          slow->cv.notify_all();
        } else
          rep->send(answer(500, "text/plain", "unexpected " + req.path));
      });
    REQUIRE(s);
    srv = std::move(*s);
    port->store(srv->port());
    cfg.allow_hosts = {"127.0.0.1"};
    cfg.max_bytes = 1000;
    cfg.timeout_ms = 5000;
  }

  ~fixture() {
    // Answer parked requests while the server still runs.
    std::lock_guard lock{slow->mtx};
    slow->replies.clear();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(srv->port()) + path;
  }

  result<json> get(const std::string& url, const context& ctx = {}) const {
    return http_get_tool(cfg).fn(json{{"url", url}}, ctx);
  }
};

} // namespace

TEST_CASE("http_get validates its config and matches hosts",
          "[tools][http_get]") {
  http_get_config cfg;
  CHECK(validate(cfg));
  cfg.allow_hosts = {"example.com", "*.Example.org", "[::1]", "127.0.0.1"};
  CHECK(validate(cfg));
  for (auto bad : {"", "*.", "a.*.com", "http://x.com", "x.com:80", "x/y"}) {
    INFO(bad);
    http_get_config c;
    c.allow_hosts = {bad};
    auto res = validate(c);
    REQUIRE_FALSE(res);
    CHECK(res.error().code == errc::invalid_config);
  }
  http_get_config c;
  c.max_bytes = 0;
  CHECK(validate(c).error().message ==
        "max_bytes must be greater than 0, got 0");
  c = {};
  c.max_redirects = 21;
  CHECK_FALSE(validate(c));
  CHECK(host_allowed(cfg.allow_hosts, "example.com"));
  CHECK(host_allowed(cfg.allow_hosts, "EXAMPLE.com"));
  CHECK_FALSE(host_allowed(cfg.allow_hosts, "www.example.com"));
  CHECK(host_allowed(cfg.allow_hosts, "a.b.example.org"));
  CHECK_FALSE(host_allowed(cfg.allow_hosts, "example.org"));
  CHECK_FALSE(host_allowed(cfg.allow_hosts, "badexample.org"));
  CHECK(host_allowed(cfg.allow_hosts, "[::1]"));
  CHECK_FALSE(host_allowed({}, "example.com"));
}

TEST_CASE("http_get fetches from allowed hosts only", "[tools][http_get]") {
  fixture f;
  auto e = http_get_tool(f.cfg);
  CHECK(e.spec.permissions == std::vector<std::string>{"network_access"});
  CHECK(e.spec.idempotent);
  CHECK(e.mode == run_mode::blocking);
  auto res = f.get(f.url("/ok"));
  REQUIRE(res);
  CHECK((*res)["url"] == f.url("/ok"));
  CHECK((*res)["status"] == 200);
  CHECK((*res)["content_type"] == "text/plain; charset=utf-8");
  CHECK((*res)["body"] == "hello");
  // Any HTTP status is a result the model can read.
  res = f.get(f.url("/missing"));
  REQUIRE(res);
  CHECK((*res)["status"] == 404);
  auto local = "http://localhost:" + std::to_string(f.srv->port()) + "/ok";
  res = f.get(local);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::forbidden);
  CHECK(res.error().message ==
        "host 'localhost' is not in http_get's allow_hosts");
  f.cfg.allow_hosts.clear();
  res = f.get(f.url("/ok"));
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::forbidden);
  CHECK(res.error().message.find("'127.0.0.1'") != std::string::npos);
  for (auto url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "not a url"}) {
    INFO(url);
    res = f.get(url);
    REQUIRE_FALSE(res);
    CHECK(res.error().code == errc::invalid_arguments);
  }
}

TEST_CASE("http_get checks every redirect's host", "[tools][http_get]") {
  fixture f;
  auto res = f.get(f.url("/in"));
  REQUIRE(res);
  CHECK((*res)["url"] == f.url("/ok"));
  CHECK((*res)["body"] == "hello");
  res = f.get(f.url("/out"));
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::forbidden);
  CHECK(res.error().message ==
        "host 'localhost' (a redirect's target) is not in http_get's "
        "allow_hosts");
  res = f.get(f.url("/file"));
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::forbidden);
  res = f.get(f.url("/loop"));
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::tool_failed);
  CHECK(res.error().message.find("too many redirects") != std::string::npos);
  f.cfg.max_redirects = 0;
  res = f.get(f.url("/in"));
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::tool_failed);
}

TEST_CASE("http_get caps the body and refuses binary bodies",
          "[tools][http_get]") {
  fixture f;
  auto res = f.get(f.url("/big"));
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::too_large);
  f.cfg.max_bytes = 2000;
  CHECK(f.get(f.url("/big")));
  res = f.get(f.url("/bin"));
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::tool_failed);
  CHECK(res.error().message.find("is binary (image/png)") != std::string::npos);
}

TEST_CASE("http_get gives up at the call's deadline or its own timeout",
          "[tools][http_get]") {
  fixture f;
  context ctx;
  ctx.deadline = clock_type::now() + 200ms;
  auto start = clock_type::now();
  auto res = f.get(f.url("/slow"), ctx);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::timeout);
  CHECK(clock_type::now() - start < 2s);
  f.cfg.timeout_ms = 200;
  start = clock_type::now();
  res = f.get(f.url("/slow"));
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::timeout);
  CHECK(clock_type::now() - start < 2s);
}

TEST_CASE("http_get stops when the call is cancelled", "[tools][http_get]") {
  fixture f;
  context ctx;
  ctx.cancel = std::make_shared<cancellation>();
  std::thread canceller{[&] {
    f.slow->wait_for_one(5s);
    ctx.cancel->cancel();
  }};
  auto start = clock_type::now();
  auto res = f.get(f.url("/slow"), ctx);
  auto took = clock_type::now() - start;
  canceller.join();
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::cancelled);
  CHECK(took < 2s);
}
