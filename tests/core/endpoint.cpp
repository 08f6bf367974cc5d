#include "core/endpoint.hpp"

#include <catch2/catch.hpp>

using namespace troupe;

TEST_CASE("HOST:PORT splits at the last colon", "[core][endpoint]") {
  auto ep = parse_endpoint("127.0.0.1:7100");
  REQUIRE(ep);
  CHECK(ep->first == "127.0.0.1");
  CHECK(ep->second == 7100);
  CHECK(parse_endpoint("[::1]:0")->first == "[::1]");
  for (auto bad : {"", ":80", "host:", "host", "host:65536", "host:8o"})
    CHECK_FALSE(parse_endpoint(bad));
}

TEST_CASE("loopback hosts are told from the rest", "[core][endpoint]") {
  for (auto host : {"localhost", "127.0.0.1", "127.1.2.3", "127.255.255.255",
                    "::1", "[::1]"})
    CHECK(loopback_host(host));
  for (auto host : {"0.0.0.0", "::", "[::]", "10.0.0.5", "127.0.0", "127.0.0.",
                    "127.0.0.256", "127.0.0.1.5", "127.a.0.1", "128.0.0.1",
                    "localhost.example.com", "", "1270.0.0.1"})
    CHECK_FALSE(loopback_host(host));
}
