// Reading requests without a socket: what the server's connections make of
// the bytes they read (also the entry point of fuzz/http_request.cpp).

#include "http/parse.hpp"

#include <string>

#include <catch2/catch.hpp>

using namespace troupe;

TEST_CASE("a parsed request has its path, query, lower-case headers and "
          "body",
          "[http]") {
  auto p = http::parse_request("POST /v1/tasks?wait=0 HTTP/1.1\r\nHost: X\r\n"
                               "X-Test: 1\r\nx-test: 2\r\nContent-Length: 5"
                               "\r\n\r\nhello",
                               {});
  REQUIRE(p.req);
  CHECK_FALSE(p.error);
  CHECK(p.req->method == "POST");
  CHECK(p.req->path == "/v1/tasks");
  CHECK(p.req->query == "wait=0");
  CHECK(p.req->header("host") == "X");
  CHECK(p.req->header("x-test") == "2"); // of a repeated header, the last
  CHECK(p.req->body == "hello");
  CHECK(p.keep_alive);
}

TEST_CASE("pipelined requests are read one after the other", "[http]") {
  std::string bytes = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /two HTTP/1.1\r\nConnection: close\r\n\r\n";
  auto first = http::parse_request(bytes, {});
  REQUIRE(first.req);
  CHECK(first.req->path == "/one");
  CHECK(first.used == bytes.find("GET /two"));
  auto second = http::parse_request(bytes.substr(first.used), {});
  REQUIRE(second.req);
  CHECK(second.req->path == "/two");
  CHECK_FALSE(second.keep_alive);
  CHECK(http::parse_request("GET / HTTP/1.0\r\n\r\n", {}).keep_alive == false);
}

TEST_CASE("a request cut short is neither read nor refused", "[http]") {
  for (auto bytes :
       {"GET / HTTP/1.1\r\nHost: x\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234", ""}) {
    auto p = http::parse_request(bytes, {});
    CHECK_FALSE(p.req);
    CHECK_FALSE(p.error);
  }
}

TEST_CASE("requests past the limits are refused with 413 and 431, garbage "
          "with 400",
          "[http]") {
  http::server_config cfg;
  cfg.max_body_bytes = 4;
  cfg.max_header_bytes = 64;
  auto body = http::parse_request(
    "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", cfg);
  REQUIRE(body.error);
  CHECK(body.error->status == 413);
  CHECK(body.error->body.find("larger than 4 bytes") != std::string::npos);
  auto chunked = http::parse_request("POST / HTTP/1.1\r\nTransfer-Encoding: "
                                     "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                                     cfg);
  REQUIRE(chunked.error);
  CHECK(chunked.error->status == 413);
  auto head = http::parse_request(
    "GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n", cfg);
  REQUIRE(head.error);
  CHECK(head.error->status == 431);
  auto garbage = http::parse_request("NOT HTTP AT ALL\r\n\r\n", {});
  REQUIRE(garbage.error);
  CHECK(garbage.error->status == 400);
  CHECK(garbage.error->body.find("bad_request") != std::string::npos);
}
