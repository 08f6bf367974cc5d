#include "tools/calculator.hpp"

#include <string>

#include <catch2/catch.hpp>

using namespace troupe;
using namespace troupe::tools;

namespace {

double eval_ok(std::string_view expr) {
  auto res = evaluate(expr);
  INFO("expression: " << expr);
  REQUIRE(res);
  return *res;
}

failure eval_fail(std::string_view expr) {
  auto res = evaluate(expr);
  INFO("expression: " << expr);
  REQUIRE_FALSE(res);
  return res.error();
}

} // namespace

TEST_CASE("calculator honours precedence and parentheses", "[tools]") {
  CHECK(eval_ok("17 * 23 + 4") == 395);
  CHECK(eval_ok("2 + 3 * 4") == 14);
  CHECK(eval_ok("(2 + 3) * 4") == 20);
  CHECK(eval_ok("10 - 4 - 3") == 3);
  CHECK(eval_ok("100 / 10 / 5") == 2);
  CHECK(eval_ok("7 % 4") == 3);
  CHECK(eval_ok("  ( ( 1 ) )\t") == 1);
  CHECK(eval_ok("1.5e3 + .5") == 1500.5);
  CHECK(eval_ok("2E-1") == Approx(0.2));
}

TEST_CASE("calculator handles unary signs and right-associative power",
          "[tools]") {
  CHECK(eval_ok("-2^2") == -4);
  CHECK(eval_ok("(-2)^2") == 4);
  CHECK(eval_ok("2^3^2") == 512);
  CHECK(eval_ok("2^-1") == 0.5);
  CHECK(eval_ok("--3") == 3);
  CHECK(eval_ok("+4 - -1") == 5);
  CHECK(eval_ok("3 * -2") == -6);
}

TEST_CASE("calculator evaluates functions and constants", "[tools]") {
  CHECK(eval_ok("sqrt(16)") == 4);
  CHECK(eval_ok("abs(-3.5)") == 3.5);
  CHECK(eval_ok("sin(0) + cos(0)") == 1);
  CHECK(eval_ok("log(e)") == Approx(1));
  CHECK(eval_ok("log10(1000)") == Approx(3));
  CHECK(eval_ok("exp(0) + floor(2.7) + ceil(2.1) + round(2.5)") == 9);
  CHECK(eval_ok("min(3, 1, 2) + max(4, 9)") == 10);
  CHECK(eval_ok("cos(pi)") == Approx(-1));
  CHECK(eval_ok("SQRT(4) + Pi - pi") == 2);
  CHECK(eval_ok("tan(0)") == 0);
}

TEST_CASE("calculator reports math errors as tool_failed", "[tools]") {
  auto f = eval_fail("1 / (2 - 2)");
  CHECK(f.code == errc::tool_failed);
  CHECK(f.message == "division by zero");
  CHECK(eval_fail("5 % 0").code == errc::tool_failed);
  f = eval_fail("sqrt(-1)");
  CHECK(f.code == errc::tool_failed);
  CHECK(f.message == "result is not a finite number");
  CHECK(eval_fail("10^400 / 10^400").message ==
        "result is not a finite number");
  CHECK(eval_fail("log(0)").code == errc::tool_failed);
}

TEST_CASE("calculator rejects junk with clear messages", "[tools]") {
  auto f = eval_fail("1 + x");
  CHECK(f.code == errc::invalid_arguments);
  CHECK(f.message == "unknown name 'x' at position 5");
  CHECK(eval_fail("2 $ 3").message == "unexpected character '$' at position 3");
  CHECK(eval_fail("foo(1)").message == "unknown function 'foo'");
  CHECK(eval_fail("(1 + 2").message == "missing ')'");
  CHECK(eval_fail("").message == "empty expression");
  CHECK(eval_fail("   ").message == "empty expression");
  CHECK(eval_fail("1 +").message == "unexpected end of expression");
  CHECK(eval_fail("1 2").code == errc::invalid_arguments);
  CHECK(eval_fail("1)").code == errc::invalid_arguments);
  CHECK(eval_fail("sqrt(1, 2)").code == errc::invalid_arguments);
  CHECK(eval_fail("3 × 4").message == "unexpected character '×' at position 3");
  CHECK(eval_fail("1e999").code == errc::invalid_arguments);
}

TEST_CASE("calculator limits nesting depth and length", "[tools]") {
  auto nested = [](size_t n) {
    return std::string(n, '(') + "1" + std::string(n, ')');
  };
  CHECK(eval_ok(nested(100)) == 1);
  auto f = eval_fail(nested(1000));
  CHECK(f.code == errc::invalid_arguments);
  CHECK(f.message.find("nested too deeply") != std::string::npos);
  CHECK(eval_fail(std::string(1000, '-') + "1").message.find("nested") !=
        std::string::npos);
  CHECK(eval_fail(std::string(5000, '1')).message.find("too long") !=
        std::string::npos);
}

TEST_CASE("format_number prints integers plainly and trims decimals",
          "[tools]") {
  CHECK(format_number(395) == "395");
  CHECK(format_number(-4) == "-4");
  CHECK(format_number(-0.0) == "0");
  CHECK(format_number(2.5) == "2.5");
  CHECK(format_number(1.0 / 3) == "0.333333333333333");
  CHECK(format_number(0.1 + 0.2) == "0.3");
  CHECK(format_number(1e20) == "1e+20");
}

TEST_CASE("calculator tool returns expression, result and text", "[tools]") {
  registry reg;
  REQUIRE(reg.add(calculator_tool()));
  auto res =
    reg.invoke({"call_1", "calculator", R"({"expression":"17*23+4"})"}, {});
  REQUIRE(res.ok);
  CHECK(res.call_id == "call_1");
  auto out = json::parse(res.output);
  CHECK(out["expression"] == "17*23+4");
  CHECK(out["result"] == 395.0);
  CHECK(out["text"] == "395");
  res = reg.invoke({"call_2", "calculator", R"({"expression":"1/0"})"}, {});
  REQUIRE_FALSE(res.ok);
  CHECK(json::parse(res.output)["code"] == "tool_failed");
  res = reg.invoke({"call_3", "calculator", R"({"expr":"1"})"}, {});
  REQUIRE_FALSE(res.ok);
  CHECK(json::parse(res.output)["code"] == "invalid_arguments");
  res = reg.invoke({"call_4", "calculator", "{oops"}, {});
  CHECK_FALSE(res.ok);
}
