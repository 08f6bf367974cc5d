#include "tools/tool.hpp"

#include <stdexcept>

#include <catch2/catch.hpp>

using namespace troupe;

namespace {

tools::entry echo(std::string name,
                  std::string schema = R"({"type":"object"})") {
  return {{std::move(name), "echo", std::move(schema)},
          tools::run_mode::immediate,
          [](const json& args, const tools::context&) -> result<json> {
            return args;
          },
          {},
          {}};
}

} // namespace

TEST_CASE("the registry refuses duplicate, nameless and schemaless tools",
          "[tools]") {
  tools::registry reg;
  REQUIRE(reg.add(echo("b")));
  REQUIRE(reg.add(echo("a")));
  CHECK_FALSE(reg.add(echo("a")));
  CHECK_FALSE(reg.add(echo("")));
  auto bad = reg.add(echo("c", "[1,2]"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("'c'") != std::string::npos);
  auto specs = reg.specs();
  REQUIRE(specs.size() == 2);
  CHECK(specs[0].name == "a");
  CHECK(specs[1].name == "b");
}

TEST_CASE("a tool that throws becomes a failed result", "[tools]") {
  tools::registry reg;
  REQUIRE(reg.add({{"boom", "throws", R"({"type":"object"})"},
                   tools::run_mode::immediate,
                   [](const json&, const tools::context&) -> result<json> {
                     throw std::runtime_error("kaput");
                   },
                   {},
                   {}}));
  auto r = reg.invoke({"c1", "boom", "{}"}, {});
  CHECK_FALSE(r.ok);
  CHECK(r.call_id == "c1");
  CHECK(r.output.find("kaput") != std::string::npos);
  auto unknown = reg.invoke({"c2", "nope", "{}"}, {});
  CHECK_FALSE(unknown.ok);
  CHECK(unknown.output.find("unknown_tool") != std::string::npos);
}
