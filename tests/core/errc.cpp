#include "core/errc.hpp"

#include <set>

#include <catch2/catch.hpp>

using namespace troupe;

TEST_CASE("every errc has a unique name that parses back", "[core]") {
  std::set<std::string_view> seen;
  for (uint8_t i = 1; i <= static_cast<uint8_t>(errc::overloaded);
       ++i) {
    auto x = static_cast<errc>(i);
    auto name = to_string(x);
    CHECK(name != "invalid_errc");
    CHECK(seen.insert(name).second);
    errc back{};
    REQUIRE(from_string(name, back));
    CHECK(back == x);
  }
  errc out{};
  CHECK_FALSE(from_string("no_such_code", out));
  CHECK(to_string(static_cast<errc>(0)) == "invalid_errc");
  CHECK(to_string(static_cast<errc>(200)) == "invalid_errc");
}
