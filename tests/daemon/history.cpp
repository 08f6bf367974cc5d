// A thread's history within a token budget: whole turns, newest kept, a
// tool call never without its result; and messages through their JSON.

#include "daemon/history.hpp"

#include <catch2/catch.hpp>

using namespace troupe;
using namespace troupe::daemon;

namespace {

/// A turn: the question, a call, its result, the answer.
std::vector<chat_message> a_turn(const std::string& q) {
  return {{chat_role::user, q, {}, {}},
          {chat_role::assistant, {}, {{"c-" + q, "calculator", R"({"expression":"1"})"}}, {}},
          {chat_role::tool, R"({"text":"1"})", {}, "c-" + q},
          {chat_role::assistant, "The answer is 1.", {}, {}}};
}

uint64_t cost(const std::vector<chat_message>& xs) {
  uint64_t n = 0;
  for (auto& m : xs)
    n += estimated_tokens(m);
  return n;
}

/// Each message as "role:content" (tool calls by name), to compare.
std::vector<std::string> shown(const std::vector<chat_message>& xs) {
  std::vector<std::string> out;
  for (auto& m : xs) {
    auto s = std::string{to_string(m.role)} + ":" + m.content;
    for (auto& c : m.tool_calls)
      s += "+" + c.name;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<chat_message> slice(const std::vector<chat_message>& xs,
                                size_t from, size_t to) {
  return {xs.begin() + static_cast<std::ptrdiff_t>(from),
          xs.begin() + static_cast<std::ptrdiff_t>(to)};
}

} // namespace

TEST_CASE("history keeps the newest whole turns within its budget",
          "[daemon][history]") {
  std::vector<chat_message> all;
  for (auto q : {"one", "two", "three"}) {
    auto t = a_turn(q);
    all.insert(all.end(), t.begin(), t.end());
  }
  auto per_turn = cost(a_turn("three")); // the newest
  size_t dropped = 0;
  auto everything = within_budget(all, cost(all), &dropped);
  CHECK(everything.size() == 12);
  CHECK(dropped == 0);
  // One token short of all three: the oldest goes, whole.
  auto two = within_budget(all, cost(all) - 1, &dropped);
  REQUIRE(two.size() == 8);
  CHECK(dropped == 4);
  CHECK(two[0].role == chat_role::user);
  CHECK(two[0].content == "two");
  auto one = within_budget(all, per_turn + 1, &dropped);
  REQUIRE(one.size() == 4);
  CHECK(one[0].content == "three");
  // Less than a turn: nothing, rather than half a turn.
  CHECK(within_budget(all, per_turn - 1, &dropped).empty());
  CHECK(dropped == 12);
  CHECK(within_budget({}, 100, nullptr).empty());
}

TEST_CASE("thread messages go through their JSON", "[daemon][history]") {
  for (auto& m : a_turn("q")) {
    auto j = message_json(m, 7);
    CHECK(j["run"] == 7);
    auto back = message_from_json(j);
    REQUIRE(back);
    CHECK(back->role == m.role);
    CHECK(back->content == m.content);
    CHECK(back->tool_call_id == m.tool_call_id);
    REQUIRE(back->tool_calls.size() == m.tool_calls.size());
    for (size_t i = 0; i < m.tool_calls.size(); ++i) {
      CHECK(back->tool_calls[i].id == m.tool_calls[i].id);
      CHECK(back->tool_calls[i].arguments == m.tool_calls[i].arguments);
    }
  }
  CHECK(!message_from_json(json{{"role", "wizard"}}));
  CHECK(!message_from_json(json::array()));
  CHECK(!message_from_json(json{{"role", "assistant"}, {"tool_calls", {{{"id", 1}}}}}));
}

TEST_CASE("a completed run's turn is its input, steps and answer",
          "[daemon][history]") {
  task_result r;
  r.answer = "done";
  r.steps.push_back({{{"c1", "calculator", "{}"}}, {{"c1", "calculator", true, "{}"}}});
  auto t = turn_of("do it", r);
  REQUIRE(t.size() == 4);
  CHECK(t[0].role == chat_role::user);
  CHECK(t[0].content == "do it");
  CHECK(t[1].tool_calls.size() == 1);
  CHECK(t[2].role == chat_role::tool);
  CHECK(t[2].tool_call_id == "c1");
  CHECK(t[3].content == "done");
}

TEST_CASE("summarize: the summary takes its place in the budget, the turns "
          "past it are to be summarized",
          "[daemon][history]") {
  std::vector<chat_message> all;
  for (auto q : {"one", "two", "three"}) {
    auto t = a_turn(q);
    all.insert(all.end(), t.begin(), t.end());
  }
  auto per_turn = cost(a_turn("three"));
  SECTION("without summarize, the summary is not used and nothing is to be "
          "summarized") {
    auto p = plan_history(all, "S", 4, per_turn, false);
    CHECK(p.to_summarize.empty());
    CHECK(shown(p.kept) == shown(slice(all, 8, all.size())));
  }
  SECTION("no summary yet: the turns that do not fit are to be summarized") {
    auto p = plan_history(all, "", 0, per_turn, true);
    CHECK(shown(p.to_summarize) == shown(slice(all, 0, 8)));
    CHECK(shown(p.kept) == shown(slice(all, 8, all.size())));
  }
  SECTION("a summary of turn one: only turn two is to be summarized, and the "
          "summary's cost leaves room for one turn less") {
    auto summary = std::string(40, 's');
    auto sc = estimated_tokens(summary_message(summary));
    auto two_turns = cost(slice(all, 4, all.size()));
    auto p = plan_history(all, summary, 4, two_turns + sc, true);
    CHECK(p.to_summarize.empty());
    CHECK(p.kept.size() == 8);
    p = plan_history(all, summary, 4, two_turns + sc - 1, true);
    CHECK(shown(p.to_summarize) == shown(slice(all, 4, 8)));
    CHECK(p.kept.size() == 4);
  }
  SECTION("a summary that covers more than there is covers all") {
    auto p = plan_history(all, "S", 99, 0, true);
    CHECK(p.to_summarize.empty());
    CHECK(p.kept.empty());
  }
  SECTION("the history leads with the summary, when there is one") {
    auto h = with_summary("S", {all[0]});
    REQUIRE(h.size() == 2);
    CHECK(h[0].role == chat_role::system);
    CHECK(h[0].content.find("\nS") != std::string::npos);
    CHECK(with_summary("", {all[0]}).size() == 1);
  }
}

TEST_CASE("a summary request holds the summary so far and the transcript",
          "[daemon][history]") {
  auto turn = a_turn("What is 1?");
  auto req = summary_request("Earlier: hello.", turn, 400);
  REQUIRE(req.size() == 2);
  CHECK(req[0].role == chat_role::system);
  CHECK(req[0].content.find("At most 75 words") != std::string::npos);
  CHECK(req[1].role == chat_role::user);
  CHECK(req[1].content ==
        "Summary of what came before:\nEarlier: hello.\n\n"
        "The conversation after that:\n"
        "User: What is 1?\n"
        "Assistant called calculator({\"expression\":\"1\"})\n"
        "Tool result: {\"text\":\"1\"}\n"
        "Assistant: The answer is 1.\n");
  // No summary yet: the transcript alone; a small budget still asks for a
  // useful length.
  auto first = summary_request("", turn, 10);
  CHECK(first[1].content.rfind("The conversation after that:\n", 0) == 0);
  CHECK(first[0].content.find("At most 50 words") != std::string::npos);
}
