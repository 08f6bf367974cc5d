#include "actors/fail_fast.hpp"

#include <stdexcept>

#include <caf/event_based_actor.hpp>

#include <catch2/catch.hpp>

#include "support/actors.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

caf::behavior fragile(caf::event_based_actor* self) {
  answer_on_crash(self, "fragile");
  return {
    [](stats_atom) -> int { throw std::runtime_error("boom"); },
  };
}

} // namespace

TEST_CASE("a role that crashes answers the request it was handling",
          "[actors][supervisor]") {
  test::system_fixture fx;
  auto a = fx.sys().spawn(fragile);
  // The deadline is far away: the answer must come from the crash itself.
  auto r = test::ask<caf::actor, int>(fx.sys(), a, 60s, stats_atom::value);
  REQUIRE(r.error);
  CHECK(code_of(r.error) == errc::role_down);
  CHECK(describe(r.error) == "role 'fragile' crashed: boom");
}
