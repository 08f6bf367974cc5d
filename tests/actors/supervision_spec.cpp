// The engine's supervision tree as planned from the settings, before
// anything starts: no actor system.

#include "actors/supervision_spec.hpp"

#include <catch2/catch.hpp>

#include "actors/engine.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace Catch {

template <>
struct StringMaker<supervision_spec> {
  static std::string convert(const supervision_spec& x) {
    return "\n" + to_string(x);
  }
};

} // namespace Catch

namespace {

std::vector<std::string> names(const role_spec& x) {
  std::vector<std::string> out;
  for (auto& c : x.children)
    out.push_back(c.name);
  return out;
}

const role_spec* child(const role_spec& x, const std::string& name) {
  for (auto& c : x.children)
    if (c.name == name)
      return &c;
  return nullptr;
}

} // namespace

TEST_CASE("the default settings plan the tree of docs/architecture.md",
          "[actors][supervisor]") {
  engine_settings cfg;
  auto spec = plan_supervision(cfg, engine_options{});
  CHECK(to_string(spec) ==
        "root: one_for_one, intensity 10 per 10000 ms, backoff 0 ms\n"
        "  monitor: monitor, permanent, shutdown 5000 ms\n"
        "  memory: memory, permanent, shutdown 5000 ms\n"
        "  guardrail: guardrail, permanent, shutdown 5000 ms\n"
        "  providers: supervisor, permanent, shutdown 5000 ms; one_for_one, "
        "intensity 10 per 10000 ms, backoff 0 ms\n"
        "    provider: offline_provider, permanent, shutdown 5000 ms\n"
        "    provider.1: offline_provider, permanent, shutdown 5000 ms\n"
        "  tool_executors: supervisor, permanent, shutdown 5000 ms; "
        "one_for_one, intensity 10 per 10000 ms, backoff 0 ms\n"
        "    tools: tool_executor, permanent, shutdown 5000 ms\n"
        "  planners: supervisor, permanent, shutdown 5000 ms; one_for_one, "
        "intensity 10 per 10000 ms, backoff 0 ms\n"
        "    planner: planner, permanent, shutdown 5000 ms\n"
        "    planner.1: planner, permanent, shutdown 5000 ms\n"
        "  tasks: task_manager, permanent, shutdown 5000 ms\n"
        "supplied: none\n");
  CHECK(spec.root.name == "root");
  CHECK(spec.root.policy == cfg.supervision.root);
  CHECK(descendants(spec.root) == 7 + 2 + 1 + 2);
  CHECK(spec.supplied == supplied_roles{});
  // The same settings plan the same tree.
  CHECK(spec == plan_supervision(cfg, supplied_roles{}));
}

TEST_CASE("each planner instance is a child of the planners supervisor",
          "[actors][supervisor]") {
  engine_settings cfg;
  cfg.planner_workers = 4;
  auto spec = plan_supervision(cfg, supplied_roles{});
  auto planners = child(spec.root, "planners");
  REQUIRE(planners);
  CHECK(names(*planners) == std::vector<std::string>{"planner", "planner.1",
                                                     "planner.2", "planner.3"});
  for (size_t i = 0; i < planners->children.size(); ++i) {
    CHECK(planners->children[i].kind == role_kind::planner);
    CHECK(planners->children[i].index == i);
  }
  CHECK(descendants(spec.root) == 7 + 2 + 1 + 4);
  cfg.planner_workers = 1;
  spec = plan_supervision(cfg, supplied_roles{});
  CHECK(names(*child(spec.root, "planners")) ==
        std::vector<std::string>{"planner"});
}

TEST_CASE("the fallback chain plans one provider each, over HTTP where "
          "configured",
          "[actors][supervisor]") {
  engine_settings cfg;
  llm::provider_config remote;
  remote.kind = "openai";
  remote.model = "gpt-test";
  cfg.providers["remote"] = remote;
  cfg.provider.fallback = {"remote", "offline"};
  auto spec = plan_supervision(cfg, supplied_roles{});
  auto providers = child(spec.root, "providers");
  REQUIRE(providers);
  CHECK(names(*providers) ==
        std::vector<std::string>{"provider", "provider.1", "provider.2"});
  CHECK(providers->children[0].kind == role_kind::offline_provider);
  CHECK(providers->children[1].kind == role_kind::http_provider);
  CHECK(providers->children[1].index == 1);
  CHECK(providers->children[2].kind == role_kind::offline_provider);
  CHECK(providers->children[2].index == 2);
}

TEST_CASE("supplied roles are not in the tree, and a supervisor left "
          "without children is not either",
          "[actors][supervisor]") {
  engine_settings cfg;
  supplied_roles supplied;
  supplied.provider = true;
  auto spec = plan_supervision(cfg, supplied);
  // The primary came from the caller; its fallback is still the engine's.
  CHECK(names(*child(spec.root, "providers")) ==
        std::vector<std::string>{"provider.1"});
  CHECK(spec.supplied == supplied);
  CHECK(to_string(spec).find("supplied: provider\n") != std::string::npos);
  cfg.provider.fallback.clear();
  spec = plan_supervision(cfg, supplied);
  CHECK(names(spec.root) ==
        std::vector<std::string>{"monitor", "memory", "guardrail",
                                 "tool_executors", "planners", "tasks"});
  // A supplied planner uses its own node's providers.
  supplied = {false, true, true, true};
  spec = plan_supervision(engine_settings{}, supplied);
  CHECK(names(spec.root) ==
        std::vector<std::string>{"monitor", "guardrail", "tasks"});
  CHECK(descendants(spec.root) == 3);
  CHECK(to_string(spec).find("supplied: tools, planner, memory\n") !=
        std::string::npos);
}

TEST_CASE("each supervisor takes its policy from its own settings",
          "[actors][supervisor]") {
  engine_settings cfg;
  auto& pol = cfg.supervision;
  pol.root = {restart_strategy::rest_for_one, 0, 1000ms, 0ms, 200ms};
  pol.providers = {restart_strategy::one_for_all, 2, 30000ms, 50ms, 300ms};
  pol.tool_executors = {restart_strategy::one_for_one, 7, 2000ms, 10ms, 400ms};
  pol.planners = {restart_strategy::one_for_all, 1, 500ms, 0ms, 600ms};
  auto spec = plan_supervision(cfg, supplied_roles{});
  CHECK(spec.root.policy == pol.root);
  // The root's children stop within the root's shutdown time, the nested
  // supervisors' children within their own supervisor's.
  for (auto& c : spec.root.children) {
    CHECK(c.shutdown == 200ms);
    CHECK(c.restart == restart_type::permanent);
  }
  std::pair<const char*, const supervisor_policy*> nested[] = {
    {"providers", &pol.providers},
    {"tool_executors", &pol.tool_executors},
    {"planners", &pol.planners}};
  for (auto& [name, p] : nested) {
    auto sup = child(spec.root, name);
    REQUIRE(sup);
    CHECK(sup->kind == role_kind::supervisor);
    CHECK(sup->policy == *p);
    for (auto& c : sup->children)
      CHECK(c.shutdown == p->shutdown);
  }
  CHECK(to_string(spec).find(
          "  providers: supervisor, permanent, shutdown 200 ms; one_for_all, "
          "intensity 2 per 30000 ms, backoff 50 ms\n") != std::string::npos);
  CHECK_FALSE(spec == plan_supervision(engine_settings{}, supplied_roles{}));
}
