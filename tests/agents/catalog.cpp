#include "agents/catalog.hpp"

#include <fstream>

#include <catch2/catch.hpp>

#include "core/json.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::agents;

namespace {

using configured = std::map<std::string, agent_config>;

/// The engine's chain is providers 0 and 1; "claude" runs as provider 2
/// and falls back like the engine's own; nothing else was started.
std::optional<std::vector<uint32_t>> chain_of(const std::string& provider) {
  if (provider.empty())
    return std::vector<uint32_t>{0, 1};
  if (provider == "claude")
    return std::vector<uint32_t>{2, 1};
  return std::nullopt;
}

agent_config read(const std::string& text) {
  agent_config cfg;
  auto parsed = parse_object(text, "test");
  REQUIRE(parsed);
  auto err = agent_keys().read(*parsed, cfg, "agents.a");
  if (err)
    FAIL(err->message);
  return cfg;
}

} // namespace

TEST_CASE("tool patterns: globs allow, ! excludes and wins",
          "[agents]") {
  CHECK(tool_allowed({"*"}, "calculator"));
  CHECK(tool_allowed({"calc*"}, "calculator"));
  CHECK_FALSE(tool_allowed({"calc*"}, "read_file"));
  CHECK(tool_allowed({"fs__*", "calculator"}, "fs__read"));
  CHECK_FALSE(tool_allowed({"*", "!shell"}, "shell"));
  CHECK_FALSE(tool_allowed({"!shell", "*"}, "shell"));
  CHECK(tool_allowed({"read_?ile"}, "read_file"));
  CHECK(tool_allowed({"[rw]*_file"}, "write_file"));
  CHECK_FALSE(tool_allowed({}, "calculator"));
}

TEST_CASE("an engine without agents still has the default agent, with the "
          "engine's budgets",
          "[agents]") {
  engine_defaults d{5, 1000, std::chrono::milliseconds{9000}, 4};
  auto cat = catalog::build({}, d, chain_of);
  REQUIRE(cat);
  auto a = (*cat)->find("default");
  REQUIRE(a);
  CHECK(a->max_steps == 5);
  CHECK(a->max_tokens == 1000);
  CHECK(a->timeout == std::chrono::milliseconds{9000});
  CHECK(a->recall_limit == 4);
  CHECK(a->memory_ns == "default");
  CHECK(a->chain == std::vector<uint32_t>{0, 1});
  CHECK(a->allows("shell"));
  CHECK(a->instructions.empty());
  CHECK((*cat)->find("nobody") == nullptr);
  CHECK(unknown_agent("nobody", **cat) ==
        "unknown agent 'nobody' (agents: default)");
}

TEST_CASE("an agent's own settings win over the engine's", "[agents]") {
  test::temp_dir dir{"agents"};
  auto file = dir.path / "support.md";
  std::ofstream{file.string()} << "You are the support desk.";
  auto cfg = read(R"({"description": "answers customers",
    "instructions_file": ")" + file.string() + R"(",
    "provider": "claude", "model": "claude-x", "tools": ["calc*"],
    "max_steps": 2, "max_tokens": 50, "timeout_ms": 700,
    "memory": {"enabled": false},
    "output_schema": {"type": "object", "required": ["answer"]}})");
  REQUIRE(validate(cfg, "agents.support", true));
  auto cat = catalog::build(configured{{"support", cfg}}, engine_defaults{}, chain_of);
  REQUIRE(cat);
  auto a = (*cat)->find("support");
  REQUIRE(a);
  CHECK(a->description == "answers customers");
  CHECK(a->instructions == "You are the support desk.");
  CHECK(a->model == "claude-x");
  CHECK(a->chain == std::vector<uint32_t>{2, 1});
  CHECK(a->max_steps == 2);
  CHECK(a->max_tokens == 50);
  CHECK(a->timeout == std::chrono::milliseconds{700});
  CHECK(a->allows("calculator"));
  CHECK_FALSE(a->allows("read_file"));
  // Memory off: no recall and no memory tools, whatever the patterns say.
  CHECK(a->recall_limit == 0);
  CHECK_FALSE(a->memory);
  REQUIRE(a->output);
  CHECK(a->output->check(json{{"answer", 1}}));
  CHECK_FALSE(a->output->check(json{{"other", 1}}));
  CHECK((*cat)->find("default"));
  CHECK((*cat)->names() == "default, support");
}

TEST_CASE("memory off excludes the memory tools even from '*'", "[agents]") {
  auto cfg = read(R"({"memory": {"enabled": false}})");
  auto cat = catalog::build(configured{{"quiet", cfg}}, engine_defaults{}, chain_of);
  REQUIRE(cat);
  auto a = (*cat)->find("quiet");
  CHECK_FALSE(a->allows("memory_store"));
  CHECK_FALSE(a->allows("memory_recall"));
  CHECK(a->allows("calculator"));
}

TEST_CASE("bad agent settings are errors that name the key", "[agents]") {
  auto both = read(R"({"instructions": "x", "instructions_file": "y"})");
  auto ok = validate(both, "agents.a", true);
  REQUIRE_FALSE(ok);
  CHECK_THAT(ok.error().message, Catch::Contains("agents.a") &&
                                   Catch::Contains("not both"));
  ok = validate(read("{}"), "agents.a", false);
  REQUIRE_FALSE(ok);
  CHECK_THAT(ok.error().message, Catch::Contains("agents.a.provider"));
  ok = validate(read(R"({"output_schema": {"type": "nonsense"}})"), "agents.a",
                true);
  REQUIRE_FALSE(ok);
  CHECK_THAT(ok.error().message, Catch::Contains("agents.a.output_schema"));
  ok = validate(read(R"({"memory": {"namespace": "../x"}})"), "agents.a", true);
  REQUIRE_FALSE(ok);
  CHECK_THAT(ok.error().message, Catch::Contains("memory.namespace"));
  agent_config cfg;
  auto err = agent_keys().read(json{{"output_schema", "text"}}, cfg,
                               "agents.a");
  REQUIRE(err);
  CHECK_THAT(err->message, Catch::Contains("agents.a.output_schema"));
  err = agent_keys().read(json{{"max_steps", 5000}}, cfg, "agents.a");
  REQUIRE(err);
  CHECK_THAT(err->message, Catch::Contains("agents.a.max_steps"));
  // What only the build can know: the file and the provider's instance.
  auto missing = read(R"({"instructions_file": "/nonexistent/prompt.md"})");
  auto cat = catalog::build(configured{{"a", missing}}, engine_defaults{}, chain_of);
  REQUIRE_FALSE(cat);
  CHECK_THAT(cat.error().message,
             Catch::Contains("agents.a.instructions_file"));
  auto late = read(R"({"provider": "added_later"})");
  cat = catalog::build(configured{{"a", late}}, engine_defaults{}, chain_of);
  REQUIRE_FALSE(cat);
  CHECK_THAT(cat.error().message, Catch::Contains("restart"));
  cat = catalog::build(configured{{"bad/name", agent_config{}}}, engine_defaults{},
                       chain_of);
  REQUIRE_FALSE(cat);
  CHECK_THAT(cat.error().message, Catch::Contains("agents.bad/name"));
}
