#include "llm/rule_based.hpp"

#include <catch2/catch.hpp>

#include "core/json.hpp"

using namespace troupe;
using troupe::llm::map_clause;
using troupe::llm::rule_based_complete;
using troupe::llm::split_clauses;

namespace {

std::vector<tool_spec> all_tools() {
  std::vector<tool_spec> out;
  for (auto name : {"calculator", "memory_store", "memory_recall", "read_file"})
    out.push_back(tool_spec{name, "", "{}"});
  return out;
}

chat_request ask(std::string text) {
  chat_request req;
  req.tools = all_tools();
  req.messages.push_back({chat_role::user, std::move(text), {}, {}});
  return req;
}

// Appends the assistant's calls and one tool message per (id, content).
void answer(chat_request& req, const chat_response& step,
            std::vector<std::pair<std::string, std::string>> results) {
  req.messages.push_back({chat_role::assistant, "", step.tool_calls, {}});
  for (auto& [id, content] : results)
    req.messages.push_back({chat_role::tool, content, {}, id});
}

} // namespace

TEST_CASE("split_clauses keeps decimals and file names whole", "[llm]") {
  auto xs = split_clauses("What is 3.5 * 2? Read the file notes.txt. "
                          "Remember it;  ok!  ");
  REQUIRE(xs.size() == 4);
  CHECK(xs[0] == "What is 3.5 * 2");
  CHECK(xs[1] == "Read the file notes.txt");
  CHECK(xs[2] == "Remember it");
  CHECK(xs[3] == "ok");
  CHECK(split_clauses("  ...  ").empty());
}

TEST_CASE("map_clause recognises each rule", "[llm]") {
  auto tools = all_tools();
  auto calc = map_clause("Calculate sqrt(16) + 2", 0, tools);
  REQUIRE(calc);
  CHECK(calc->id == "call_1");
  CHECK(calc->name == "calculator");
  CHECK(calc->arguments == R"({"expression":"sqrt(16) + 2"})");
  auto bare = map_clause("2 + 2", 4, tools);
  REQUIRE(bare);
  CHECK(bare->id == "call_5");
  auto recall = map_clause("What do you remember about the launch", 1, tools);
  REQUIRE(recall);
  CHECK(recall->name == "memory_recall");
  CHECK(recall->arguments == R"({"query":"the launch"})");
  auto file = map_clause("read the file `notes.txt`", 2, tools);
  REQUIRE(file);
  CHECK(file->name == "read_file");
  CHECK(file->arguments == R"({"path":"notes.txt"})");
  CHECK_FALSE(map_clause("What is the capital of France", 0, tools));
  CHECK_FALSE(map_clause("remember", 0, tools));
}

TEST_CASE("two clauses become two calls and one answer", "[llm]") {
  auto req = ask("What is 17 * 23 + 4? Remember that the launch is on Friday.");
  auto step = rule_based_complete(req);
  REQUIRE(step.tool_calls.size() == 2);
  CHECK(step.tool_calls[0].id == "call_1");
  CHECK(step.tool_calls[0].name == "calculator");
  CHECK(step.tool_calls[0].arguments == R"({"expression":"17 * 23 + 4"})");
  CHECK(step.tool_calls[1].id == "call_2");
  CHECK(step.tool_calls[1].name == "memory_store");
  CHECK(step.tool_calls[1].arguments ==
        R"({"text":"the launch is on Friday"})");
  answer(
    req, step,
    {{"call_1", R"({"expression":"17 * 23 + 4","result":395,"text":"395"})"},
     {"call_2", R"({"id":1,"text":"the launch is on Friday"})"}});
  auto final = rule_based_complete(req);
  REQUIRE(final.tool_calls.empty());
  CHECK(final.content ==
        "17 * 23 + 4 = 395. I'll remember that the launch is on Friday.");
}

TEST_CASE("a question no tool answers is declined, not invented", "[llm]") {
  auto out = rule_based_complete(ask("What is the capital of France?"));
  CHECK(out.tool_calls.empty());
  CHECK(out.content.find("can't handle") != std::string::npos);
  CHECK(out.content.find("What is the capital of France") != std::string::npos);
  CHECK(out.content.find("Paris") == std::string::npos);
  auto empty = rule_based_complete(chat_request{});
  CHECK(empty.tool_calls.empty());
  CHECK(empty.content.find("nothing to do") != std::string::npos);
}

TEST_CASE("only tools offered in the request are called", "[llm]") {
  auto req = ask("What is 1 + 1? Remember that x is 2");
  req.tools = {tool_spec{"memory_store", "", "{}"}};
  auto out = rule_based_complete(req);
  REQUIRE(out.tool_calls.size() == 1);
  CHECK(out.tool_calls[0].name == "memory_store");
  CHECK(out.tool_calls[0].id == "call_2");
  req.tools = tool_list{};
  out = rule_based_complete(req);
  CHECK(out.tool_calls.empty());
  CHECK(out.content.find("can't handle") != std::string::npos);
}

TEST_CASE("errors, recall hits, files and bad results", "[llm]") {
  auto req = ask("Compute 1/0. Recall the launch. Cat notes.txt. "
                 "Do you remember Bob? Who are you? What is 2+2");
  auto step = rule_based_complete(req);
  REQUIRE(step.tool_calls.size() == 5);
  CHECK(step.tool_calls[4].id == "call_6");
  answer(
    req, step,
    {{"call_1", R"({"error":"division by zero","code":"tool_failed"})"},
     {"call_2",
      R"({"query":"the launch","hits":[{"text":"the launch is on Friday.","score":1},{"text":"launch at 9","score":0.5}]})"},
     {"call_3", R"({"path":"notes.txt","bytes":6,"content":"hello\n"})"},
     {"call_4", "not json at all {"}});
  auto out = rule_based_complete(req);
  CHECK(out.tool_calls.empty());
  CHECK(out.content.find("I couldn't compute 1/0: division by zero.") !=
        std::string::npos);
  CHECK(out.content.find("About the launch, I remember: the launch is on "
                         "Friday; launch at 9.") != std::string::npos);
  CHECK(out.content.find("Contents of notes.txt:\nhello\n") !=
        std::string::npos);
  CHECK(out.content.find("unreadable result") != std::string::npos);
  CHECK(out.content.find("I can't handle \"Who are you\" offline") !=
        std::string::npos);
  CHECK(out.content.find("no result") != std::string::npos);
}

TEST_CASE("recall without hits and file errors are reported", "[llm]") {
  auto req = ask("what do you know about Mars; read file \"../x\"");
  auto step = rule_based_complete(req);
  REQUIRE(step.tool_calls.size() == 2);
  answer(
    req, step,
    {{"call_1", R"({"query":"Mars","hits":[]})"},
     {"call_2",
      R"({"error":"path '../x' is outside the workspace","code":"path_escape"})"}});
  auto out = rule_based_complete(req);
  CHECK(out.content ==
        "I don't remember anything about Mars. I couldn't read ../x: path "
        "'../x' is outside the workspace.");
}
