#include "actors/guardrail.hpp"

#include <caf/send.hpp>

#include <catch2/catch.hpp>

#include "support/actors.hpp"

using namespace troupe;
using namespace std::chrono_literals;

TEST_CASE("the guardrail actor answers with a verdict and a reason",
          "[actors][guardrail]") {
  test::system_fixture fx;
  auto filter = guardrail::input_filter::make({});
  REQUIRE(filter);
  auto g = fx.sys().spawn(guardrail_role, *filter, fault_spec{});
  auto check = [&](const std::string& text) {
    auto r = test::ask<guardrail_actor, verdict>(
      fx.sys(), g, 5s, check_input_atom::value,
      task_request{1, "s", "p", text});
    REQUIRE(r.value);
    return *r.value;
  };
  CHECK(check("What is 2+2?").action == verdict_action::allow);
  auto denied = check("<script>x</script>");
  CHECK(denied.action == verdict_action::deny);
  CHECK(denied.reason.find("script_tag") != std::string::npos);
  caf::anon_send_exit(g, caf::exit_reason::user_shutdown);
}
