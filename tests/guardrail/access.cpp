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
  auto specs = reg->specs();
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
    {"write_file", {true, false, false, false}},
    {"list_files", {true, false, false, false}},
    {"http_get", {true, false, false, false}},
    // Any command in the sandbox: its own permission, admin only.
    {"shell", {true, false, false, false}},
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
  auto shell = policy.tool_denial("ulf", "shell", {"execute_tools", "run_shell"});
  REQUIRE(shell);
  CHECK(*shell ==
        "principal 'ulf' (role 'user') lacks the permission run_shell");
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

TEST_CASE("API keys map to principals by digest", "[guardrail][access]") {
  // FIPS 180-2's test vector.
  CHECK(api_key_digest("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  access_config cfg;
  cfg.principals["alice"] = "user";
  cfg.principals["bob"] = "guest";
  REQUIRE(add_api_keys(cfg, "alice:alice-key-0123456789,bob:bob-key-0123456789"));
  cfg.api_keys[api_key_digest("second-alice-key-xyz")] = "alice";
  REQUIRE(validate(cfg));
  access_policy policy{cfg};
  CHECK(policy.principal_for_key("alice-key-0123456789") == "alice");
  CHECK(policy.principal_for_key("second-alice-key-xyz") == "alice");
  CHECK(policy.principal_for_key("bob-key-0123456789") == "bob");
  CHECK_FALSE(policy.principal_for_key("alice-key-012345678"));
  CHECK_FALSE(policy.principal_for_key(""));
  // The principal a key maps to has its role's permissions, nothing more.
  auto who = policy.principal_for_key("bob-key-0123456789");
  REQUIRE(who);
  CHECK(policy.allows(*who, permission::read_memory));
  CHECK_FALSE(policy.allows(*who, permission::execute_tools));
}

TEST_CASE("bad API keys are refused without showing them",
          "[guardrail][access]") {
  auto error_of = [](std::string_view spec) {
    access_config cfg;
    auto r = add_api_keys(cfg, spec);
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  auto short_key = error_of("alice:short-secret");
  CHECK(short_key.find("entry 1 (principal 'alice')") != std::string::npos);
  CHECK(short_key.find("12 characters, at least 16") != std::string::npos);
  CHECK(short_key.find("short-secret") == std::string::npos);
  auto no_colon = error_of("alice:ok-key-0123456789,just-a-secret-key-123");
  CHECK(no_colon.find("entry 2 is not 'principal:key'") != std::string::npos);
  CHECK(no_colon.find("just-a-secret") == std::string::npos);
  auto twice = error_of("alice:same-key-0123456789,bob:same-key-0123456789");
  CHECK(twice.find("already given to principal 'alice'") != std::string::npos);
  CHECK(twice.find("same-key") == std::string::npos);

  access_config cfg;
  cfg.api_keys["not-a-digest"] = "cli";
  auto r = validate(cfg);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("is not a SHA-256 digest") != std::string::npos);
  cfg.api_keys.clear();
  REQUIRE(add_api_keys(cfg, "mallory:mallory-key-0123456789"));
  r = validate(cfg);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("principal 'mallory', which access.principals "
                               "does not have") != std::string::npos);
}
