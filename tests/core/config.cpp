#include "core/config.hpp"

#include <catch2/catch.hpp>

using namespace troupe;

TEST_CASE("the default config is valid", "[core][config]") {
  CHECK(validate(engine_config{}));
}

TEST_CASE("config errors name the key and the bad value", "[core][config]") {
  auto message = [](engine_config cfg) {
    auto r = validate(cfg);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_config);
    return r.error().message;
  };
  engine_config cfg;
  cfg.workspace = "/no/such/dir";
  CHECK(message(cfg).find("'/no/such/dir'") != std::string::npos);
  cfg = {};
  cfg.max_steps = 0;
  CHECK(message(cfg) == "max_steps must be in 1..1000, got 0");
  cfg = {};
  cfg.memory_capacity = 0;
  CHECK(message(cfg).find("memory_capacity") != std::string::npos);
  cfg = {};
  cfg.timeouts.tool = std::chrono::milliseconds{-5};
  CHECK(message(cfg) == "timeouts.tool must be > 0 ms, got -5");
  cfg = {};
  cfg.guardrail.deny_patterns.push_back({"bad", "[z-a]"});
  CHECK(message(cfg).find("'bad'") != std::string::npos);
}
