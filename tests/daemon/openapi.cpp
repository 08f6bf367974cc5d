// The OpenAPI 3.1 document: valid by a maintained validator (npm, pinned by
// tests/openai's lock), served as checked in, and the same routes as the
// daemon's route table, both ways; each route it lists the daemon answers.

#include <fstream>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon/service.hpp"
#include "support/daemon.hpp"

using namespace troupe::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string checked_in() {
  std::ifstream in{std::string{TROUPE_SOURCE_DIR} + "/docs/openapi.json"};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

TEST_CASE("the OpenAPI document is valid OpenAPI 3.1", "[daemon][openapi]") {
  auto r = run_process({"/usr/bin/env", "node",
                        std::string{TROUPE_SOURCE_DIR} + "/tests/openai/openapi.mjs",
                        std::string{TROUPE_SOURCE_DIR} + "/docs/openapi.json"},
                       60s);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("valid OpenAPI 3.1"));
}

TEST_CASE("the OpenAPI document has every route the daemon answers, and no "
          "other",
          "[daemon][openapi]") {
  auto doc = json::parse(checked_in());
  std::set<std::pair<std::string, std::string>> documented;
  for (auto& [path, ops] : doc["paths"].items())
    for (auto& [method, _] : ops.items())
      documented.emplace(method, path);
  std::set<std::pair<std::string, std::string>> routed;
  for (auto& r : troupe::daemon::service::routes())
    routed.emplace(lower(r.method), r.pattern);
  CHECK(documented == routed);

  daemon_proc d;
  auto served = d.call("GET", "/openapi.json", {}, nullptr);
  REQUIRE(served);
  CHECK(served->status == 200);
  CHECK(served->body == checked_in());
  // Each route is answered (whatever the answer): never "no such
  // endpoint" or "method not allowed".
  for (auto& r : troupe::daemon::service::routes()) {
    auto path = r.pattern;
    if (auto at = path.find("{id}"); at != std::string::npos)
      path.replace(at, 4, "1");
    if (r.method == "HEAD")
      continue; // answered without a body, checked by the probes' tests
    auto res = d.call(r.method, path, r.method == "POST" ? "{}" : "");
    REQUIRE(res);
    INFO(r.method << " " << path << " -> " << res->status << " " << res->body);
    CHECK(res->status != 405);
    CHECK(res->body.find("no such endpoint") == std::string::npos);
  }
  // Off the table: 404, and 405 with the methods there are.
  CHECK(d.call("GET", "/v1/nothing")->status == 404);
  auto wrong = d.call("PUT", "/v1/tasks/1");
  CHECK(wrong->status == 405);
  CHECK(wrong->headers["allow"] == "GET, DELETE");
}
