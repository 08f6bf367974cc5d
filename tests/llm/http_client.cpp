// The outbound HTTP client against a local server: answers whole and
// streamed, errors, timeouts, cancellation, many requests at once.

#include "llm/http_client.hpp"

#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include "http/server.hpp"

using namespace troupe;
using namespace troupe::llm;
using namespace std::chrono_literals;

namespace {

/// Collects replies and waits for them with a deadline.
struct replies {
  std::mutex m;
  std::condition_variable cv;
  std::vector<http_reply> got;
  std::string streamed;

  http_client::done_fn done() {
    return [this](http_reply r) {
      std::lock_guard guard{m};
      got.push_back(std::move(r));
      cv.notify_all();
    };
  }

  http_client::chunk_fn chunk() {
    return [this](std::string_view bytes) {
      std::lock_guard guard{m};
      streamed.append(bytes);
      return true;
    };
  }

  bool wait(size_t n, std::chrono::milliseconds deadline = 10s) {
    std::unique_lock lock{m};
    return cv.wait_for(lock, deadline, [&] { return got.size() >= n; });
  }
};

struct local_server {
  std::mutex m;
  std::vector<std::shared_ptr<http::reply>> held;
  std::unique_ptr<http::server> srv;

  local_server() {
    http::server_config cfg;
    cfg.port = 0;
    auto s = http::server::start(cfg, [this](http::request req,
                                             std::shared_ptr<http::reply> rep) {
      if (req.path == "/echo")
        return rep->send({200, "application/json",
                          req.method + " " + req.body + " " +
                            std::string{req.header("authorization")},
                          {}});
      if (req.path == "/fail")
        return rep->send({503, "application/json", R"({"error":"busy"})",
                          {{"Retry-After", "2"}}});
      if (req.path == "/stream") {
        auto s = rep->open_stream();
        s->send("", "one");
        s->send("", "two");
        s->close();
        return;
      }
      std::lock_guard guard{m};
      held.push_back(std::move(rep)); // /hold: answered by the test, or never
    });
    REQUIRE(s);
    srv = std::move(*s);
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(srv->port()) + path;
  }
};

http_request post(std::string url, std::string body = "{}") {
  http_request r;
  r.url = std::move(url);
  r.body = std::move(body);
  r.headers = {"Content-Type: application/json", "Authorization: Bearer sk-secret"};
  return r;
}

} // namespace

TEST_CASE("the client posts and reads answers whole or streamed",
          "[llm][http]") {
  local_server srv;
  http_client client;
  replies r;
  client.start(post(srv.url("/echo"), R"({"a":1})"), {}, r.done());
  REQUIRE(r.wait(1));
  CHECK(r.got[0].status == 200);
  CHECK(r.got[0].body == R"(POST {"a":1} Bearer sk-secret)");
  CHECK(r.got[0].error.empty());
  client.start(post(srv.url("/stream")), r.chunk(), r.done());
  REQUIRE(r.wait(2));
  CHECK(r.got[1].status == 200);
  CHECK(r.got[1].body.empty());
  CHECK(r.streamed == "data: one\n\ndata: two\n\n");
  // An error answer is kept whole, with its headers, even with a chunk
  // callback.
  client.start(post(srv.url("/fail")), r.chunk(), r.done());
  REQUIRE(r.wait(3));
  CHECK(r.got[2].status == 503);
  CHECK(r.got[2].body == R"({"error":"busy"})");
  CHECK(retry_after(r.got[2].headers) == std::chrono::milliseconds{2000});
  CHECK(client.in_flight() == 0);
}

TEST_CASE("transport failures, timeouts and cancellation end the request",
          "[llm][http]") {
  local_server srv;
  http_client client;
  replies r;
  // Nobody listens on port 1.
  client.start(post("http://127.0.0.1:1/x"), {}, r.done());
  REQUIRE(r.wait(1));
  CHECK(r.got[0].status == 0);
  CHECK_FALSE(r.got[0].error.empty());
  // The server never answers: the total timeout ends it.
  auto slow = post(srv.url("/hold"));
  slow.total_timeout = 200ms;
  client.start(slow, {}, r.done());
  REQUIRE(r.wait(2));
  CHECK(r.got[1].timed_out);
  // Cancelled while waiting.
  auto id = client.start(post(srv.url("/hold")), {}, r.done());
  client.cancel(id);
  REQUIRE(r.wait(3));
  CHECK(r.got[2].cancelled);
  CHECK(client.in_flight() == 0);
  // A scheme other than http(s) is refused.
  client.start(post("file:///etc/passwd"), {}, r.done());
  REQUIRE(r.wait(4));
  CHECK_FALSE(r.got[3].error.empty());
  CHECK(r.got[3].body.empty());
}

TEST_CASE("many requests are in flight at once", "[llm][http]") {
  local_server srv;
  http_client client;
  replies r;
  constexpr size_t n = 300;
  for (size_t i = 0; i < n; ++i)
    client.start(post(srv.url("/hold")), {}, r.done());
  // All of them reach the server before any is answered.
  auto until = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    {
      std::lock_guard guard{srv.m};
      if (srv.held.size() == n)
        break;
    }
    REQUIRE(std::chrono::steady_clock::now() < until);
    std::this_thread::yield();
  }
  CHECK(client.in_flight() == n);
  {
    std::lock_guard guard{srv.m};
    for (auto& h : srv.held)
      h->send({200, "text/plain", "ok", {}});
  }
  REQUIRE(r.wait(n, 20s));
  CHECK(std::all_of(r.got.begin(), r.got.end(),
                    [](auto& x) { return x.status == 200 && x.body == "ok"; }));
}

TEST_CASE("Retry-After reads seconds and HTTP dates", "[llm][http]") {
  CHECK(retry_after({{"retry-after", "7"}}) == std::chrono::milliseconds{7000});
  CHECK_FALSE(retry_after({}));
  CHECK_FALSE(retry_after({{"retry-after", "soon"}}));
  CHECK(retry_after({{"retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"}}) ==
        std::chrono::milliseconds{0}); // in the past: no wait
}
