#include "memory/tools.hpp"

#include <catch2/catch.hpp>

#include "core/json.hpp"
#include "memory/short_term.hpp"

using namespace troupe;

namespace {

tool_result call(memory::short_term_store& store, const std::string& name,
                 const std::string& args, const std::string& session = "s") {
  return memory::run_tool(store,
                          tool_invocation{{"c1", name, args}, 1, session, "p"});
}

} // namespace

TEST_CASE("memory tools store and recall per session", "[memory]") {
  memory::short_term_store store{10, 10};
  auto stored =
    call(store, "memory_store", R"({"text":"the launch is on Friday"})");
  REQUIRE(stored.ok);
  CHECK(json::parse(stored.output)["text"] == "the launch is on Friday");
  auto hits = call(store, "memory_recall", R"({"query":"launch"})");
  REQUIRE(hits.ok);
  auto j = json::parse(hits.output);
  REQUIRE(j["hits"].size() == 1);
  CHECK(j["hits"][0]["text"] == "the launch is on Friday");
  auto other = call(store, "memory_recall", R"({"query":"launch"})", "t");
  CHECK(json::parse(other.output)["hits"].empty());
}

TEST_CASE("memory tools reject bad arguments clearly", "[memory]") {
  memory::short_term_store store;
  auto missing = call(store, "memory_store", "{}");
  CHECK_FALSE(missing.ok);
  CHECK(missing.output.find("'text'") != std::string::npos);
  CHECK_FALSE(call(store, "memory_store", R"({"text":"   "})").ok);
  CHECK_FALSE(call(store, "memory_store", "not json").ok);
  auto limit = call(store, "memory_recall", R"({"query":"x","limit":0})");
  CHECK_FALSE(limit.ok);
  CHECK(limit.output.find("'limit'") != std::string::npos);
  auto unknown = call(store, "memory_forget", "{}");
  CHECK_FALSE(unknown.ok);
  CHECK(json::parse(unknown.output)["code"] == "unknown_tool");
  CHECK(memory::is_memory_tool("memory_store"));
  CHECK_FALSE(memory::is_memory_tool("calculator"));
  CHECK(memory::tool_specs().size() == 2);
}
