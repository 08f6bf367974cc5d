// Who may call what: the permission matrix of the default roles over every
// built-in tool and memory, and per-role tool lists.

#include "guardrail/access.hpp"

#include <array>
#include <map>

#include <catch2/catch.hpp>

#include "actors/engine.hpp"
#include "memory/tools.hpp"
#include "support/actors.hpp"

using namespace troupe;
using namespace troupe::guardrail;

TEST_CASE("the default roles' permission matrix over every tool",
          "[guardrail][access]") {
  access_config cfg;
  cfg.principals["ann"] = "admin";
  cfg.principals["ulf"] = "user";
  cfg.principals["gus"] = "guest";
  access_policy policy{cfg};
  auto reg = make_tool_registry(test::test_config(), {});
  REQUIRE(reg);
  auto specs = (*reg)->specs();
  for (auto& s : memory::tool_specs())
    specs.push_back(s);
  // Memory tools are checked by the memory role with these permissions.
  auto needs = [](const tool_spec& s) {
    if (s.name == "memory_store")
      return std::vector<std::string>{"write_memory"};
    if (s.name == "memory_recall")
      return std::vector<std::string>{"read_memory"};
    return s.permissions;
  };
  // tool -> {admin, user, guest, unknown}
  std::map<std::string, std::array<bool, 4>> expected{
    {"calculator", {true, true, false, false}},
    {"read_file", {true, false, false, false}},
    {"memory_store", {true, false, false, false}},
    {"memory_recall", {true, true, true, false}},
  };
  REQUIRE(specs.size() == expected.size());
  for (auto& s : specs) {
    auto& row = expected.at(s.name);
    int i = 0;
    for (auto who : {"ann", "ulf", "gus", "nobody"}) {
      INFO(s.name << " as " << who);
      CHECK(!policy.tool_denial(who, s.name, needs(s)).has_value() ==
            row[i++]);
    }
  }
  auto why = policy.tool_denial("ulf", "read_file",
                                {"execute_tools", "access_files"});
  REQUIRE(why);
  CHECK(*why ==
        "principal 'ulf' (role 'user') lacks the permission access_files");
}

TEST_CASE("per-role tool lists allow and deny by name",
          "[guardrail][access]") {
  access_config cfg;
  cfg.principals["ulf"] = "user";
  cfg.principals["ann"] = "admin";
  cfg.tools["user"].deny = {"calculator"};
  cfg.tools["admin"].allow = {"read_file"};
  access_policy policy{cfg};
  auto denied = policy.tool_denial("ulf", "calculator", {"execute_tools"});
  REQUIRE(denied);
  CHECK(*denied == "role 'user' may not use the tool 'calculator'");
  CHECK(policy.tool_denial("ann", "calculator", {"execute_tools"}));
  CHECK_FALSE(policy.tool_denial("ann", "read_file",
                                 {"execute_tools", "access_files"}));
  access_config bad;
  bad.tools["wizard"].deny = {"x"};
  CHECK_FALSE(validate(bad));
}

TEST_CASE("a tool call the principal may not make is refused before it runs",
          "[guardrail][access]") {
  test::system_fixture fx;
  auto cfg = test::test_config();
  cfg.access.principals["ulf"] = "user";
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto r = test::ask<task_actor, task_result>(
    fx.sys(), (*eng)->tasks(), std::chrono::seconds{10}, run_atom::value,
    task_request{0, "s", "ulf", "Read the file README.md"});
  REQUIRE(r.value);
  REQUIRE(r.value->steps.size() == 1);
  auto& res = r.value->steps[0].results[0];
  CHECK_FALSE(res.ok);
  CHECK(res.output.find("tool call refused: principal 'ulf' (role 'user') "
                        "lacks the permission access_files") !=
        std::string::npos);
  // The same principal may use the calculator.
  auto calc = test::ask<task_actor, task_result>(
    fx.sys(), (*eng)->tasks(), std::chrono::seconds{10}, run_atom::value,
    task_request{0, "s", "ulf", "What is 6 * 7?"});
  REQUIRE(calc.value);
  CHECK(calc.value->answer.find("42") != std::string::npos);
}
