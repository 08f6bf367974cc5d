#include "tools/tool.hpp"

#include <stdexcept>

#include <catch2/catch.hpp>

using namespace troupe;

namespace {

tools::entry make(tool_spec spec, tools::function fn) {
  tools::entry e;
  e.spec = std::move(spec);
  e.fn = std::move(fn);
  return e;
}

tools::entry echo(std::string name,
                  std::string schema = R"({"type":"object"})") {
  return make({std::move(name), "echo", std::move(schema)},
              [](const json& args, const tools::context&) -> result<json> {
                return args;
              });
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
  REQUIRE(reg.add(make({"boom", "throws", R"({"type":"object"})"},
                       [](const json&, const tools::context&) -> result<json> {
                         throw std::runtime_error("kaput");
                       })));
  auto r = reg.invoke({"c1", "boom", "{}"}, {});
  CHECK_FALSE(r.ok);
  CHECK(r.call_id == "c1");
  CHECK(r.output.find("kaput") != std::string::npos);
  auto unknown = reg.invoke({"c2", "nope", "{}"}, {});
  CHECK_FALSE(unknown.ok);
  CHECK(unknown.output.find("unknown_tool") != std::string::npos);
}

TEST_CASE("a call cancelled before it runs does not run at all", "[tools]") {
  tools::registry reg;
  int runs = 0;
  REQUIRE(reg.add(make({"write", "has an effect", R"({"type":"object"})"},
                       [&](const json&, const tools::context&) -> result<json> {
                         ++runs;
                         return json{{"written", true}};
                       })));
  auto prepared = reg.prepare({"c1", "write", "{}"});
  REQUIRE(prepared);
  tools::context ctx;
  ctx.cancel = std::make_shared<tools::cancellation>();
  REQUIRE(tools::registry::run(*prepared, ctx));
  CHECK(runs == 1);
  // Cancelled while it waited for a worker (deadline, task cancelled).
  ctx.cancel->cancel();
  auto late = tools::registry::run(*prepared, ctx);
  REQUIRE_FALSE(late);
  CHECK(late.error().code == errc::cancelled);
  CHECK(runs == 1);
}

TEST_CASE("arguments nested too deep or too large are refused before any "
          "check walks them",
          "[tools][hardening]") {
  tools::registry reg;
  REQUIRE(reg.add(echo("echo")));
  auto deep = reg.prepare({"c1", "echo",
                           R"({"a":)" + std::string(100'000, '[') + "}"});
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == errc::invalid_arguments);
  // The object is level 1; the 64th array would be level 65.
  std::string at = "/a";
  for (int i = 0; i < 62; ++i)
    at += "/0";
  CHECK(deep.error().message ==
        "arguments of 'echo' at " + at + " nests deeper than 64 levels");
  auto large = reg.prepare(
    {"c1", "echo", R"({"a":")" + std::string(17 << 20, 'x') + "\"}"});
  REQUIRE_FALSE(large);
  CHECK_THAT(large.error().message,
             Catch::Contains("more than the limit of 16777216"));
  auto twice = reg.prepare({"c1", "echo", R"({"a":1,"a":2})"});
  REQUIRE_FALSE(twice);
  CHECK(twice.error().message == "arguments of 'echo' has the key \"a\" twice");
}
