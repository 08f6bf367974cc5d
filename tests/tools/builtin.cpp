// The built-in tool list: every tool once, each with its permission.

#include "tools/builtin.hpp"

#include <map>

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::tools;

TEST_CASE("builtin_tools lists every built-in tool with its permission",
          "[tools][builtin]") {
  test::temp_dir tmp{"builtin"};
  builtin_config cfg;
  cfg.files.workspace = tmp.path;
  cfg.shell.workspace = tmp.path;
  REQUIRE(validate(cfg));
  registry reg;
  std::map<std::string, std::vector<std::string>> perms;
  for (auto& e : builtin_tools(cfg)) {
    perms[e.spec.name] = e.spec.permissions;
    REQUIRE(reg.add(std::move(e)));
  }
  using v = std::vector<std::string>;
  CHECK(perms == std::map<std::string, v>{
                   {"calculator", v{"execute_tools"}},
                   {"read_file", v{"access_files"}},
                   {"write_file", v{"access_files"}},
                   {"list_files", v{"access_files"}},
                   {"http_get", v{"network_access"}},
                   {"shell", v{"execute_tools", "run_shell"}},
                 });
  auto res =
    reg.invoke({"c1", "write_file", R"({"path":"a","content":"b"})"}, {});
  CHECK(res.ok);
  cfg.shell.cpu_seconds = 0;
  auto bad = validate(cfg);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message ==
        "shell: cpu_seconds must be greater than 0, got 0");
  cfg.shell.cpu_seconds = 1;
  cfg.files.workspace = tmp.path / "missing";
  CHECK(validate(cfg).error().message.rfind("files: workspace", 0) == 0);
}
