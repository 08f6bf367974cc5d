#include "config/config.hpp"

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

using namespace troupe;

TEST_CASE("the default config is valid", "[core][config]") {
  CHECK(validate(engine_config{}));
}

TEST_CASE("config errors name the key and the bad value", "[core][config]") {
  auto message = [](engine_config cfg) {
    auto r = check(cfg);
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
  cfg.memory.capacity = 0;
  CHECK(message(cfg).find("memory.capacity") != std::string::npos);
  cfg = {};
  cfg.timeouts.tool = std::chrono::milliseconds{-5};
  CHECK(message(cfg) == "timeouts.tool must be > 0 ms, got -5");
  cfg = {};
  cfg.guardrail.deny_patterns.push_back({"bad", "[z-a]"});
  CHECK(message(cfg).find("'bad'") != std::string::npos);
}

TEST_CASE("config/troupe.json matches the built-in defaults",
          "[core][config]") {
  auto cfg = load_file(engine_config{},
                       std::string{TROUPE_SOURCE_DIR} + "/config/troupe.json");
  REQUIRE(cfg);
  engine_config defaults;
  CHECK(cfg->max_steps == defaults.max_steps);
  CHECK(cfg->memory.capacity == defaults.memory.capacity);
  CHECK(cfg->guardrail.max_input_bytes == defaults.guardrail.max_input_bytes);
  REQUIRE(cfg->guardrail.deny_patterns.size() ==
          defaults.guardrail.deny_patterns.size());
  for (size_t i = 0; i < defaults.guardrail.deny_patterns.size(); ++i)
    CHECK(cfg->guardrail.deny_patterns[i].regex ==
          defaults.guardrail.deny_patterns[i].regex);
  CHECK(cfg->timeouts.tool == defaults.timeouts.tool);
  CHECK(cfg->planner_workers == defaults.planner_workers);
  CHECK(cfg->provider.fallback == defaults.provider.fallback);
  CHECK(cfg->supervision.planners.intensity ==
        defaults.supervision.planners.intensity);
  CHECK(cfg->memory.max_per_namespace ==
        defaults.memory.max_per_namespace);
  CHECK(cfg->memory.recall_limit == defaults.memory.recall_limit);
  CHECK(cfg->memory.ttl == defaults.memory.ttl);
  CHECK(cfg->access.roles == defaults.access.roles);
  CHECK(cfg->access.principals == defaults.access.principals);
  CHECK(cfg->serve.listen == defaults.serve.listen);
  CHECK(cfg->serve.max_body_bytes == defaults.serve.max_body_bytes);
  CHECK(cfg->serve.drain == defaults.serve.drain);
  CHECK(cfg->serve.rate_limit == defaults.serve.rate_limit);
  CHECK(cfg->serve.rate_burst == defaults.serve.rate_burst);
  CHECK(cfg->serve.keep_finished == defaults.serve.keep_finished);
}

TEST_CASE("serve settings are read and checked", "[core][config]") {
  auto ok = apply_json(engine_config{},
                       R"({"serve": {"listen": "0.0.0.0:9000", "rate_limit": 2.5,
                                     "drain_ms": 100, "durable": false}})");
  REQUIRE(ok);
  CHECK(ok->serve.listen == "0.0.0.0:9000");
  CHECK(ok->serve.rate_limit == 2.5);
  CHECK(ok->serve.drain == std::chrono::milliseconds{100});
  CHECK_FALSE(ok->serve.durable);
  auto bad_listen = apply_json(engine_config{}, R"({"serve": {"listen": "nowhere"}})");
  REQUIRE(bad_listen);
  auto v = validate(*bad_listen);
  REQUIRE_FALSE(v);
  CHECK(v.error().message ==
        "serve.listen must be HOST:PORT (port 0..65535), got 'nowhere'");
  auto bad_rate = apply_json(engine_config{}, R"({"serve": {"rate_limit": -1}})");
  REQUIRE_FALSE(bad_rate);
  CHECK(bad_rate.error().message.find("serve.rate_limit must be a number in") !=
        std::string::npos);
  auto unknown = apply_json(engine_config{}, R"({"serve": {"port": 1}})");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("serve.port") != std::string::npos);
}

TEST_CASE("memory and access settings are read and checked",
          "[core][config]") {
  auto ok = apply_json(engine_config{}, R"({
      "data_dir": "/var/lib/troupe",
      "memory": {"long_term": false, "ttl_days": 30, "readers": 4},
      "access": {"roles": {"auditor": ["read_memory"]},
                 "principals": {"ops": "auditor"}}})");
  REQUIRE(ok);
  CHECK(ok->data_dir == "/var/lib/troupe");
  CHECK_FALSE(ok->memory.long_term);
  CHECK_FALSE(long_term_of(*ok));
  CHECK(ok->memory.ttl == std::chrono::hours{24 * 30});
  CHECK(ok->memory.readers == 4);
  guardrail::access_policy policy{ok->access};
  CHECK(policy.allows("ops", guardrail::permission::read_memory));
  CHECK_FALSE(policy.allows("ops", guardrail::permission::write_memory));
  // The defaults stay: cli is admin.
  CHECK(policy.allows("cli", guardrail::permission::network_access));
  CHECK_FALSE(policy.allows("nobody", guardrail::permission::read_memory));
  auto bad_perm = apply_json(
    engine_config{}, R"({"access": {"roles": {"x": ["fly"]}}})");
  REQUIRE_FALSE(bad_perm);
  CHECK(bad_perm.error().message.find("access.roles.x: unknown permission "
                                      "\"fly\"") != std::string::npos);
  engine_config cfg;
  cfg.access.principals["eve"] = "superuser";
  auto bad_role = validate(cfg);
  REQUIRE_FALSE(bad_role);
  CHECK(bad_role.error().message ==
        "access.principals.eve: unknown role 'superuser'");
  auto bad_bool = apply_json(engine_config{},
                             R"({"memory": {"durable": "yes"}})");
  REQUIRE_FALSE(bad_bool);
  CHECK(bad_bool.error().message ==
        "memory.durable must be true or false, got \"yes\"");
}

TEST_CASE("config JSON errors name the key", "[core][config]") {
  auto error = [](std::string_view text) {
    auto r = apply_json(engine_config{}, text);
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(error("{").rfind("config is not valid JSON: parse error at line 1, "
                        "column 2",
                        0) == 0);
  CHECK(error("[]").find("must be a JSON object") != std::string::npos);
  CHECK(error(R"({"max_stepz": 3})") == "unknown config key 'max_stepz'");
  CHECK(error(R"({"memory": {"capacity": "lots"}})") ==
        "memory.capacity must be an integer in 1..1099511627776, got "
        "\"lots\"");
  CHECK(error(R"({"timeouts": {"tool_ms": 0}})").find("timeouts.tool_ms") !=
        std::string::npos);
  CHECK(error(R"({"guardrail": {"deny_patterns": [{"name": 1}]}})")
          .find("deny_patterns") != std::string::npos);
  auto ok = apply_json(engine_config{},
                       R"({"max_steps": 3, "timeouts": {"role_ms": 250}})");
  REQUIRE(ok);
  CHECK(ok->max_steps == 3);
  CHECK(ok->timeouts.role == std::chrono::milliseconds{250});
  CHECK_FALSE(load_file(engine_config{}, "/no/such/file.json"));
  // Bounded: nesting, size, a key given twice.
  std::string at = "/memory";
  for (int i = 0; i < 62; ++i)
    at += "/0";
  CHECK(error(R"({"memory": )" + std::string(100'000, '[')) ==
        "config at " + at + " nests deeper than 64 levels");
  CHECK_THAT(error(std::string(17 << 20, ' ') + "{}"),
             Catch::StartsWith("config is 17825794 bytes, more than the "
                               "limit of 16777216"));
  CHECK(error(R"({"max_steps": 3, "max_steps": 4})") ==
        "config has the key \"max_steps\" twice");
  auto env = apply_environment(
    engine_config{}, {{"TROUPE_MEMORY_CAPACITY", std::string(100'000, '[')}});
  REQUIRE_FALSE(env);
  CHECK_THAT(env.error().message,
             Catch::StartsWith("TROUPE_MEMORY_CAPACITY at /0/0/") &&
               Catch::EndsWith("nests deeper than 64 levels"));
}

TEST_CASE("the root supervisor's policy comes from config", "[core][config]") {
  auto ok = apply_json(engine_config{}, R"({"supervision": {"root": {
    "strategy": "rest_for_one", "intensity": 2, "period_ms": 500,
    "backoff_ms": 20, "shutdown_ms": 100}}})");
  REQUIRE(ok);
  CHECK(ok->supervision.root.strategy == restart_strategy::rest_for_one);
  CHECK(ok->supervision.root.intensity == 2);
  CHECK(ok->supervision.root.period == std::chrono::milliseconds{500});
  CHECK(ok->supervision.root.backoff == std::chrono::milliseconds{20});
  CHECK(ok->supervision.root.shutdown == std::chrono::milliseconds{100});
  auto bad = apply_json(engine_config{},
                        R"({"supervision": {"root": {"strategy": "all"}}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("supervision.root.strategy") !=
        std::string::npos);
  auto typo = apply_json(engine_config{}, R"({"supervision": {"rot": {}}})");
  REQUIRE_FALSE(typo);
  CHECK(typo.error().message == "unknown config key 'supervision.rot'");
}

TEST_CASE("fault drills are configured per role", "[core][config]") {
  auto ok = apply_json(engine_config{},
                       R"({"faults": {"memory": {"every": 100}}})");
  REQUIRE(ok);
  CHECK(ok->faults.at("memory").every == 100);
  auto bad = apply_json(engine_config{},
                        R"({"faults": {"kitchen": {"every": 1}}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("unknown role 'kitchen'") !=
        std::string::npos);
  fault_injector f{"memory", fault_spec{fault_mode::crash, 3}};
  f.tick();
  f.tick();
  CHECK_THROWS_WITH(f.tick(), "injected crash in memory (message 3)");
  f.tick();
}

TEST_CASE("faults take a mode and a rate", "[core][config]") {
  auto ok = apply_json(
    engine_config{},
    R"({"faults": {"planner": {"mode": "stall", "rate": 0.25},
                   "provider.1": {"mode": "exit", "every": 2}}})");
  REQUIRE(ok);
  CHECK(ok->faults.at("planner").mode == fault_mode::stall);
  CHECK(ok->faults.at("planner").rate == 0.25);
  CHECK(ok->faults.at("provider.1").mode == fault_mode::exit);
  // A rate is spread evenly: 0.25 hits messages 4, 8, 12, ...
  fault_injector f{"planner", ok->faults.at("planner")};
  std::vector<int> hits;
  for (int i = 1; i <= 12; ++i)
    if (f.tick() == fault_action::stall)
      hits.push_back(i);
  CHECK(hits == std::vector<int>{4, 8, 12});
  for (auto [text, key] :
       {std::pair{R"({"faults": {"planner": {"mode": "explode"}}})",
                  "faults.planner.mode must be crash, exit or stall"},
        std::pair{R"({"faults": {"planner": {"rate": 2}}})",
                  "faults.planner.rate must be a number in 0..1"},
        std::pair{R"({"faults": {"provider.7": {"every": 1}}})",
                  "unknown role 'provider.7'"}}) {
    auto bad = apply_json(engine_config{}, text);
    REQUIRE_FALSE(bad);
    INFO(bad.error().message);
    CHECK(bad.error().message.find(key) != std::string::npos);
  }
}

TEST_CASE("each supervisor of the tree has its own policy", "[core][config]") {
  auto ok = apply_json(engine_config{}, R"({"supervision": {
      "providers": {"strategy": "one_for_all", "intensity": 7},
      "tool_executors": {"backoff_ms": 15}}})");
  REQUIRE(ok);
  CHECK(ok->supervision.providers.strategy == restart_strategy::one_for_all);
  CHECK(ok->supervision.providers.intensity == 7);
  CHECK(ok->supervision.tool_executors.backoff ==
        std::chrono::milliseconds{15});
  CHECK(ok->supervision.root.intensity == engine_config{}.supervision.root.intensity);
  auto bad = apply_json(engine_config{},
                        R"({"supervision": {"tools": {"intensity": 1}}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "unknown config key 'supervision.tools'");
}

TEST_CASE("the provider fallback chain is configured and checked",
          "[core][config]") {
  auto none = apply_json(engine_config{}, R"({"provider": {"fallback": []}})");
  REQUIRE(none);
  CHECK(none->provider.fallback.empty());
  auto bad =
    apply_json(engine_config{}, R"({"provider": {"fallback": "offline"}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("provider.fallback must be an array") !=
        std::string::npos);
  engine_config cfg;
  cfg.provider.fallback = {"gpt-9"};
  auto unknown = validate(cfg);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message ==
        "provider.fallback: unknown provider 'gpt-9' (offline, or a name from "
        "providers)");
}

TEST_CASE("API keys come from the config as digests and from the "
          "environment as keys",
          "[core][config]") {
  auto digest = troupe::guardrail::api_key_digest("config-key-0123456789");
  auto cfg = apply_json(engine_config{},
                        R"({"access": {"principals": {"ops": "admin"},
                           "api_keys": [{"principal": "ops", "sha256": ")" +
                          digest + R"("}]}})");
  REQUIRE(cfg);
  auto env = apply_environment(*cfg, {{"TROUPE_API_KEYS", "cli:env-key-0123456789"}});
  REQUIRE(env);
  REQUIRE(validate(*env));
  troupe::guardrail::access_policy policy{env->access};
  CHECK(policy.principal_for_key("config-key-0123456789") == "ops");
  CHECK(policy.principal_for_key("env-key-0123456789") == "cli");

  auto bad = apply_json(engine_config{},
                        R"({"access": {"api_keys": [{"principal": "cli"}]}})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("access.api_keys must be an array of") !=
        std::string::npos);
  auto bad_env = apply_environment(engine_config{}, {{"TROUPE_API_KEYS", "cli:tiny"}});
  REQUIRE_FALSE(bad_env);
  CHECK(bad_env.error().message.find("TROUPE_API_KEYS entry 1") !=
        std::string::npos);
  CHECK(bad_env.error().message.find("tiny") == std::string::npos);
}

TEST_CASE("TROUPE_* variables override any config key by its path",
          "[core][config]") {
  auto cfg = apply_environment(engine_config{},
                               {{"TROUPE_SERVE_LISTEN", "0.0.0.0:9090"},
                                {"TROUPE_SERVE_RATE_LIMIT", "7.5"},
                                {"TROUPE_MAX_STEPS", "3"},
                                {"TROUPE_MEMORY_DURABLE", "false"},
                                {"TROUPE_PROVIDER_FALLBACK", R"(["offline"])"},
                                {"TROUPE_LOG_LEVEL", "info"}});
  REQUIRE(cfg);
  CHECK(cfg->serve.listen == "0.0.0.0:9090");
  CHECK(cfg->serve.rate_limit == 7.5);
  CHECK(cfg->max_steps == 3);
  CHECK_FALSE(cfg->memory.durable);
  CHECK(cfg->log_level == "info");
  auto unknown = apply_environment(engine_config{}, {{"TROUPE_SERVE_LISTN", "x"}});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.rfind(
          "TROUPE_SERVE_LISTN does not name a config key", 0) == 0);
  auto bad = apply_environment(engine_config{}, {{"TROUPE_MAX_STEPS", "many"}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message ==
        "TROUPE_MAX_STEPS: max_steps must be an integer in 1..1000, got \"many\"");
  // Secrets are read where they are used, never as config keys.
  CHECK(apply_environment(engine_config{},
                          {{"TROUPE_APPROVAL_KEY", std::string(64, 'a')}}));
}

TEST_CASE("config files may carry comments", "[core][config]") {
  auto cfg = apply_json(engine_config{}, R"({
    // steps per task
    "max_steps": 5, /* and more */
    "serve": {"listen": "127.0.0.1:1234"}
  })");
  REQUIRE(cfg);
  CHECK(cfg->max_steps == 5);
  CHECK(cfg->serve.listen == "127.0.0.1:1234");
}

TEST_CASE("the dev and prod profiles apply over the base config",
          "[core][config]") {
  auto base = load_file(engine_config{},
                        std::string{TROUPE_SOURCE_DIR} + "/config/troupe.json");
  REQUIRE(base);
  auto dev = load_file(*base, std::string{TROUPE_SOURCE_DIR} +
                                "/config/profiles/dev.json");
  REQUIRE(dev);
  CHECK(dev->log_level == "debug");
  CHECK(dev->serve.rate_limit == 0);
  CHECK(validate(*dev));
  auto prod = load_file(*base, std::string{TROUPE_SOURCE_DIR} +
                                 "/config/profiles/prod.json");
  REQUIRE(prod);
  CHECK(prod->serve.listen == "0.0.0.0:8080");
  CHECK(prod->serve.durable);
  CHECK(prod->access.principals.at("app") == "user");
}

TEST_CASE("the Kubernetes ConfigMap applies over the base and prod files",
          "[core][config]") {
  std::ifstream in{std::string{TROUPE_SOURCE_DIR} +
                   "/deploy/kubernetes/configmap.yaml"};
  REQUIRE(in);
  // The JSON is the literal block under "troupe.json: |", indented by 4.
  std::string line, json_text;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.find("troupe.json: |") != std::string::npos) {
      inside = true;
      continue;
    }
    if (inside)
      json_text += (line.size() >= 4 ? line.substr(4) : std::string{}) + "\n";
  }
  REQUIRE(!json_text.empty());
  auto base = load_file(engine_config{},
                        std::string{TROUPE_SOURCE_DIR} + "/config/troupe.json");
  REQUIRE(base);
  auto prod = load_file(*base, std::string{TROUPE_SOURCE_DIR} +
                                 "/config/profiles/prod.json");
  REQUIRE(prod);
  auto cluster = apply_json(*prod, json_text);
  INFO(json_text);
  REQUIRE(cluster);
  CHECK(cluster->access.principals.at("app") == "user");
}

TEST_CASE("tool settings, per-tool overrides and MCP servers are read and "
          "checked",
          "[core][config][tools]") {
  auto cfg = apply_json(engine_config{}, R"({
    "tools": {
      "queue": 8, "cache_entries": 16,
      "http_get": {"allow_hosts": ["example.com", "*.wikipedia.org"],
                   "max_bytes": 4096, "timeout_ms": 500},
      "shell": {"bwrap": "/usr/bin/bwrap", "cpu_seconds": 2,
                "memory_bytes": 268435456},
      "overrides": {"calculator": {"timeout_ms": 100, "cache_ttl_ms": 60000},
                    "fs__read": {"permissions": ["access_files"]}}
    },
    "mcp_servers": {
      "fs": {"command": "node", "args": ["server.js", "stdio"],
             "env": {"ROOT": "/data"}, "call_timeout_ms": 2000}
    }
  })");
  REQUIRE(cfg);
  CHECK(cfg->tools.queue == 8);
  CHECK(cfg->tools.cache_entries == 16);
  CHECK(cfg->tools.http_get.allow_hosts ==
        std::vector<std::string>{"example.com", "*.wikipedia.org"});
  CHECK(cfg->tools.http_get.max_bytes == 4096);
  CHECK(cfg->tools.shell.bwrap == "/usr/bin/bwrap");
  CHECK(cfg->tools.shell.cpu_seconds == 2);
  auto& calc = cfg->tools.overrides.at("calculator");
  CHECK(calc.timeout_ms == std::optional<uint32_t>{100});
  CHECK(calc.cache_ttl_ms == std::optional<uint32_t>{60000});
  CHECK_FALSE(calc.permissions);
  CHECK(cfg->tools.overrides.at("fs__read").permissions ==
        std::optional<std::vector<std::string>>{{"access_files"}});
  REQUIRE(cfg->mcp_servers.size() == 1);
  auto& fs = cfg->mcp_servers[0];
  CHECK(fs.name == "fs");
  CHECK(fs.command == "node");
  CHECK(fs.args == std::vector<std::string>{"server.js", "stdio"});
  CHECK(fs.env.at("ROOT") == "/data");
  CHECK(fs.call_timeout_ms == 2000);
  CHECK(validate(*cfg));
  // Mistakes name the key.
  auto error_of = [](const char* text) {
    auto c = apply_json(engine_config{}, text);
    if (c)
      if (auto ok = validate(*c); !ok)
        return ok.error().message;
    return c ? std::string{} : c.error().message;
  };
  CHECK_THAT(error_of(R"({"tools": {"http_get": {"allow_hosts": "x"}}})"),
             Catch::Contains("tools.http_get.allow_hosts must be a list"));
  CHECK_THAT(error_of(R"({"tools": {"shell": {"cpu_seconds": 0}}})"),
             Catch::Contains("tools.shell.cpu_seconds"));
  CHECK_THAT(error_of(R"({"tools": {"overrides": {"x": {"timeout": 1}}}})"),
             Catch::Contains("unknown config key 'tools.overrides.x.timeout'"));
  CHECK_THAT(error_of(R"({"mcp_servers": {"s": {"args": []}}})"),
             Catch::Contains("mcp_servers:") && Catch::Contains("'s'"));
  CHECK_THAT(error_of(R"({"mcp_servers": {"bad name": {"command": "x"}}})"),
             Catch::Contains("bad name"));
  CHECK_THAT(error_of(R"({"tools": {"http_get": {"allow_hosts": ["http://x"]}}})"),
             Catch::Contains("tools.http_get"));
}

TEST_CASE("cluster settings: roles, seeds and addresses are read and checked",
          "[core][config][cluster]") {
  auto ok = apply_json(engine_config{}, R"({"cluster": {
    "name": "api-1", "listen": "0.0.0.0:7100", "advertise": "10.0.0.5:7100",
    "seeds": ["10.0.0.6:7100", "10.0.0.7:7100"], "roles": ["api", "tools"],
    "gossip_ms": 250}})");
  REQUIRE(ok);
  CHECK(ok->cluster.name == "api-1");
  CHECK(ok->cluster.listen == "0.0.0.0:7100");
  CHECK(ok->cluster.advertise == "10.0.0.5:7100");
  CHECK(ok->cluster.seeds.size() == 2);
  CHECK(ok->cluster.gossip == std::chrono::milliseconds{250});
  CHECK(ok->cluster.runs("tools"));
  CHECK_FALSE(ok->cluster.runs("planner"));
  CHECK(ok->cluster.clustered());
  CHECK_FALSE(engine_config{}.cluster.clustered());
  // Seeds and roles as one comma-separated string (an environment value).
  auto env = apply_environment(
    engine_config{}, {{"TROUPE_CLUSTER_SEEDS", "a:1,b:2"},
                      {"TROUPE_CLUSTER_ROLES", "api,planner"}});
  REQUIRE(env);
  CHECK(env->cluster.seeds == std::vector<std::string>{"a:1", "b:2"});
  CHECK(env->cluster.roles == std::vector<std::string>{"api", "planner"});
  auto bad = [](const char* text) -> std::string {
    auto r = apply_json(engine_config{}, text);
    if (!r)
      return r.error().message;
    auto v = validate(*r);
    REQUIRE_FALSE(v);
    return v.error().message;
  };
  CHECK_THAT(bad(R"({"cluster": {"roles": ["api", "cook"]}})"),
             Catch::Contains("unknown role 'cook'"));
  CHECK_THAT(bad(R"({"cluster": {"roles": []}})"),
             Catch::Contains("at least one of"));
  CHECK_THAT(bad(R"({"cluster": {"roles": ["tools", "tools"]}})"),
             Catch::Contains("'tools' is named twice"));
  CHECK_THAT(bad(R"({"cluster": {"seeds": ["nohost"]}})"),
             Catch::Contains("cluster.seeds: 'nohost' is not HOST:PORT"));
  CHECK_THAT(bad(R"({"cluster": {"listen": "x"}})"),
             Catch::Contains("cluster.listen"));
  CHECK_THAT(bad(R"({"cluster": {"tool_nodes": ["a:1"]}})"),
             Catch::Contains("replaced by cluster.seeds"));
}

TEST_CASE("docs/config.schema.json is the schema the key declarations give",
          "[config]") {
  auto path = std::string{TROUPE_SOURCE_DIR} + "/docs/config.schema.json";
  auto current = config_schema().dump(2) + "\n";
  std::ifstream in{path};
  std::stringstream buf;
  buf << in.rdbuf();
  if (buf.str() != current) {
    // Leave the current schema beside the test run, to copy over.
    std::ofstream{"config.schema.json"} << current;
    FAIL("docs/config.schema.json is stale: copy build/config.schema.json "
         "over it");
  }
}
