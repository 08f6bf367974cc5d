// The rules file: its format, its errors (with the line), the shipped file,
// and reloading it in a running engine.

#include "guardrail/rules.hpp"

#include <fstream>
#include <thread>

#include <caf/send.hpp>

#include <catch2/catch.hpp>

#include "actors/engine.hpp"
#include "support/actors.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::guardrail;
using namespace std::chrono_literals;

TEST_CASE("rules parse by line, with comments and checks",
          "[guardrail][rules]") {
  auto r = parse_rules("# comment\n"
                       "\n"
                       "input  shout  (?i)HELLO WORLD\n"
                       "output card redact check=luhn \\b[0-9]{13,19}\\b\n"
                       "output oops flag   ignore me  \n",
                       "test.rules");
  REQUIRE(r);
  REQUIRE(r->input.size() == 1);
  CHECK(r->input[0].name == "shout");
  CHECK(r->input[0].regex == "(?i)HELLO WORLD");
  REQUIRE(r->output.size() == 2);
  CHECK(r->output[0].check == rule_check::luhn);
  CHECK(r->output[0].action == rule_action::redact);
  CHECK(r->output[1].action == rule_action::flag);
  CHECK(r->output[1].regex == "ignore me");
}

TEST_CASE("a bad rule names the file and the line", "[guardrail][rules]") {
  auto error = [](const char* text) {
    auto r = parse_rules(text, "g.rules");
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(error("input ok x\nblock x y\n") ==
        "g.rules:2: a rule starts with 'input' or 'output', got 'block'");
  CHECK(error("output x erase y\n") ==
        "g.rules:1: rule 'x': the action must be block, redact or flag, got "
        "'erase'");
  CHECK(error("\n\ninput broken (unclosed\n").rfind("g.rules:3: rule pattern "
                                                    "'broken' does not compile",
                                                    0) == 0);
  CHECK(error("input lonely\n") == "g.rules:1: rule 'lonely' has no pattern");
  CHECK(error("output c redact check=crc [0-9]+\n") ==
        "g.rules:1: rule 'c': check must be luhn or ssn, got 'crc'");
}

TEST_CASE("config/guardrail.rules holds the built-in rules",
          "[guardrail][rules]") {
  auto r =
    load_rules(std::string{TROUPE_SOURCE_DIR} + "/config/guardrail.rules");
  REQUIRE(r);
  auto in = input_filter_config{}.deny_patterns;
  REQUIRE(r->input.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK(r->input[i].name == in[i].name);
    CHECK(r->input[i].regex == in[i].regex);
  }
  auto out = default_output_rules();
  REQUIRE(r->output.size() == out.size());
  for (size_t i = 0; i < out.size(); ++i) {
    INFO(out[i].name);
    CHECK(r->output[i].name == out[i].name);
    CHECK(r->output[i].regex == out[i].regex);
    CHECK(r->output[i].action == out[i].action);
    CHECK(r->output[i].check == out[i].check);
  }
}

TEST_CASE("the guardrail reloads its rules without stopping, and keeps them "
          "when the new file is bad",
          "[guardrail][rules]") {
  test::temp_dir d{"rules"};
  auto file = d.path / "g.rules";
  std::ofstream{file} << "input script (?i)<script\n";
  test::system_fixture fx;
  auto cfg = test::test_config();
  cfg.guardrail.rules_file = file;
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE(eng);
  auto run = [&](const std::string& text) {
    auto r = test::run_task(fx.sys(), **eng, text);
    REQUIRE(r.value);
    return *r.value;
  };
  auto reload = [&] {
    return test::ask<guardrail_actor, uint64_t>(fx.sys(), (*eng)->guardrail(),
                                                5s, reload_atom::value);
  };
  CHECK(run("What is 2+2? I like bananas.").status == task_status::completed);
  std::ofstream{file} << "input script (?i)<script\n"
                         "input no_bananas (?i)banana\n";
  auto n = reload();
  REQUIRE(n.value);
  CHECK(*n.value == 2);
  auto denied = run("What is 2+2? I like bananas.");
  CHECK(denied.status == task_status::rejected);
  CHECK(denied.answer.find("no_bananas") != std::string::npos);
  // A broken file: the error has the line, and the rules stay.
  std::ofstream{file} << "input script (?i)<script\n"
                         "input broken (unclosed\n";
  auto bad = reload();
  REQUIRE(bad.error);
  CHECK(describe(bad.error).find(file.string() + ":2: ") != std::string::npos);
  CHECK(run("bananas again").status == task_status::rejected);
  // A restarted guardrail keeps the reloaded rules.
  auto old = (*eng)->guardrail();
  caf::anon_send_exit(old, caf::exit_reason::kill);
  REQUIRE(test::wait_until([&] { return (*eng)->guardrail() != old; }));
  CHECK(run("bananas after a restart").status == task_status::rejected);
}

TEST_CASE("a bad rules file stops the engine at start with its line",
          "[guardrail][rules]") {
  test::temp_dir d{"rules-bad"};
  auto file = d.path / "g.rules";
  std::ofstream{file} << "# rules\noutput x redact\n";
  test::system_fixture fx;
  auto cfg = test::test_config();
  cfg.guardrail.rules_file = file;
  auto eng = engine::start(fx.sys(), cfg);
  REQUIRE_FALSE(eng);
  CHECK(describe(eng.error()) ==
        file.string() + ":2: rule 'x' has no pattern");
}
