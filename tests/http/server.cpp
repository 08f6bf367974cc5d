// The HTTP server on its own: requests in, replies now or later from any
// thread, limits, slow and vanishing clients, event streams.

#include "http/server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "support/http_client.hpp"

using namespace troupe;
using namespace troupe::test;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<http::server> start(http::handler h,
                                    http::server_config cfg = {}) {
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  auto srv = http::server::start(cfg, std::move(h));
  REQUIRE(srv);
  return std::move(*srv);
}

/// Waits (with a deadline) until `pred` holds.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds deadline = 5s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::yield();
  }
  return true;
}

http::handler echo = [](http::request req, std::shared_ptr<http::reply> rep) {
  rep->send({200, "text/plain", req.method + " " + req.path + "?" + req.query +
                                  " [" + req.body + "] " +
                                  std::string{req.header("x-test")},
             {{"X-Echo", "yes"}}});
};

} // namespace

TEST_CASE("the server answers requests, keeping the connection alive",
          "[http]") {
  auto srv = start(echo);
  auto res = http_call(srv->port(), "POST", "/a/b?x=1", "hello",
                       {{"X-Test", "42"}});
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->body == "POST /a/b?x=1 [hello] 42");
  CHECK(res->headers["x-echo"] == "yes");
  // Two requests on one connection: both answered, in order.
  auto raw = raw_exchange(srv->port(),
                          "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /two HTTP/1.1\r\nHost: x\r\nConnection: "
                          "close\r\n\r\n");
  auto first = raw.find("GET /one?");
  auto second = raw.find("GET /two?");
  CHECK(first != std::string::npos);
  CHECK(second != std::string::npos);
  CHECK(first < second);
  CHECK(srv->stats().requests_total == 3);
}

TEST_CASE("a reply may come later, from another thread", "[http]") {
  std::mutex m;
  std::vector<std::shared_ptr<http::reply>> held;
  auto srv = start([&](http::request, std::shared_ptr<http::reply> rep) {
    std::lock_guard guard{m};
    held.push_back(std::move(rep));
  });
  std::optional<http_response> res;
  std::thread client{[&] { res = http_call(srv->port(), "GET", "/later"); }};
  REQUIRE(eventually([&] {
    std::lock_guard guard{m};
    return !held.empty();
  }));
  std::thread replier{[&] {
    std::lock_guard guard{m};
    held[0]->send(http::error_response(418, "teapot", "later"));
    held[0]->send({200, "text/plain", "ignored", {}}); // only the first counts
  }};
  replier.join();
  client.join();
  REQUIRE(res);
  CHECK(res->status == 418);
  CHECK(res->body == R"({"error":{"code":"teapot","message":"later"}})");
}

TEST_CASE("a dropped reply still answers 500", "[http]") {
  auto srv = start([](http::request, std::shared_ptr<http::reply>) {});
  auto res = http_call(srv->port(), "GET", "/");
  REQUIRE(res);
  CHECK(res->status == 500);
  CHECK(res->body.find("dropped unanswered") != std::string::npos);
}

TEST_CASE("oversized, malformed and slow requests get clear errors",
          "[http]") {
  http::server_config cfg;
  cfg.max_body_bytes = 1000;
  cfg.max_header_bytes = 2000;
  cfg.io_timeout = 300ms;
  auto srv = start(echo, cfg);
  auto big = http_call(srv->port(), "POST", "/", std::string(1001, 'x'));
  REQUIRE(big);
  CHECK(big->status == 413);
  CHECK(big->body.find("payload_too_large") != std::string::npos);
  auto fits = http_call(srv->port(), "POST", "/", std::string(1000, 'x'));
  REQUIRE(fits);
  CHECK(fits->status == 200);
  auto huge_head = http_call(srv->port(), "GET", "/", {},
                             {{"X-Filler", std::string(3000, 'h')}});
  REQUIRE(huge_head);
  CHECK(huge_head->status == 431);
  auto garbage = parse_response(raw_exchange(srv->port(), "NOT HTTP AT ALL\r\n\r\n"));
  REQUIRE(garbage);
  CHECK(garbage->status == 400);
  CHECK(garbage->body.find("malformed HTTP request") != std::string::npos);
  // Half a request, then nothing: 408 once the I/O timeout passes.
  auto slow = parse_response(
    raw_exchange(srv->port(), "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
  REQUIRE(slow);
  CHECK(slow->status == 408);
  // The server still serves.
  auto after = http_call(srv->port(), "GET", "/ok");
  REQUIRE(after);
  CHECK(after->status == 200);
}

TEST_CASE("an event stream delivers events and notices a client leaving",
          "[http]") {
  std::mutex m;
  std::shared_ptr<http::event_stream> stream;
  auto srv = start([&](http::request req, std::shared_ptr<http::reply> rep) {
    auto s = rep->open_stream();
    s->send("hello", "line one\nline two");
    if (req.path == "/finite") {
      s->send("", "last");
      s->close();
      return;
    }
    std::lock_guard guard{m};
    stream = s;
  });
  auto finite = http_call(srv->port(), "GET", "/finite");
  REQUIRE(finite);
  CHECK(finite->status == 200);
  CHECK(finite->headers["content-type"] == "text/event-stream");
  auto events = parse_events(finite->body);
  REQUIRE(events.size() == 2);
  CHECK(events[0] == std::pair<std::string, std::string>{"hello", "line one\nline two"});
  CHECK(events[1].second == "last");
  // A client that reads a little and hangs up.
  auto partial = raw_exchange(srv->port(), "GET /open HTTP/1.1\r\n\r\n", 300ms);
  CHECK(partial.find("event: hello") != std::string::npos);
  REQUIRE(eventually([&] {
    std::lock_guard guard{m};
    return stream && stream->closed();
  }));
  CHECK_FALSE(stream->send("x", "after the client left"));
  CHECK(eventually([&] { return srv->stats().streams_open == 0; }));
}

TEST_CASE("beyond the connection limit new clients get 503", "[http]") {
  http::server_config cfg;
  cfg.max_connections = 1;
  std::mutex m;
  std::vector<std::shared_ptr<http::reply>> held;
  auto srv = start(
    [&](http::request, std::shared_ptr<http::reply> rep) {
      std::lock_guard guard{m};
      held.push_back(std::move(rep));
    },
    cfg);
  std::thread first{[&] { http_call(srv->port(), "GET", "/hold", {}, {}, 5s); }};
  REQUIRE(eventually([&] {
    std::lock_guard guard{m};
    return !held.empty();
  }));
  auto second = http_call(srv->port(), "GET", "/");
  REQUIRE(second);
  CHECK(second->status == 503);
  {
    std::lock_guard guard{m};
    held[0]->send({200, "text/plain", "done", {}});
  }
  first.join();
}

TEST_CASE("a port in use is a clear error", "[http]") {
  auto srv = start(echo);
  http::server_config cfg;
  cfg.port = srv->port();
  auto again = http::server::start(cfg, echo);
  REQUIRE_FALSE(again);
  CHECK(again.error().message.find("cannot listen on 127.0.0.1:" +
                                   std::to_string(srv->port())) == 0);
}
