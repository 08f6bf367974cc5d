#include "core/json.hpp"

#include <catch2/catch.hpp>

using namespace troupe;

namespace {

std::string nested(size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

std::string error_of(std::string_view text, const parse_limits& limits = {}) {
  auto r = parse_json(text, "the input", limits);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_input);
  return r.error().message;
}

} // namespace

TEST_CASE("parse_json reads what nlohmann reads", "[core][json]") {
  auto text = R"({"a": [1, -2, 3.5, "x", true, null, {"b": {}}], "c": []})";
  auto r = parse_json(text, "the input");
  REQUIRE(r);
  CHECK(*r == json::parse(text));
  CHECK(*parse_json("42", "n") == 42);
  CHECK(*parse_json(R"("s")", "s") == "s");
  CHECK(*parse_json("[[]]", "a") == json::parse("[[]]"));
  CHECK(*parse_json("18446744073709551615", "u") ==
        json(18446744073709551615ull));
}

TEST_CASE("parse_json refuses nesting past the limit, at any size",
          "[core][json]") {
  CHECK(parse_json(nested(64), "x"));
  // The 65th opens inside the first element of 63 arrays.
  std::string at;
  for (int i = 0; i < 63; ++i)
    at += "/0";
  CHECK(error_of(nested(65)) ==
        "the input at " + at + " nests deeper than 64 levels");
  // The crash from the issue: 200 KB of brackets, never closed.
  auto deep = std::string(200'000, '[');
  CHECK(error_of(deep).find("nests deeper than 64 levels") !=
        std::string::npos);
  // Objects count too, and the pointer names the keys.
  std::string objs;
  for (int i = 0; i < 10; ++i)
    objs += R"({"k/~":)";
  objs += "1" + std::string(10, '}');
  CHECK(error_of(objs, {.max_depth = 3}) ==
        "the input at /k~1~0/k~1~0/k~1~0 nests deeper than 3 levels");
}

TEST_CASE("parse_json refuses texts past the size limit", "[core][json]") {
  CHECK(error_of(std::string(101, ' ') + "1", {.max_bytes = 100}) ==
        "the input is 102 bytes, more than the limit of 100");
  CHECK(parse_json(std::string(99, ' ') + "1", "x", {.max_bytes = 100}));
}

TEST_CASE("parse_json names a repeated key, unless told to allow it",
          "[core][json]") {
  CHECK(error_of(R"({"a": 1, "a": 2})") ==
        "the input has the key \"a\" twice");
  CHECK(error_of(R"({"a": {"b": 1, "b": 2}})") ==
        "the input at /a has the key \"b\" twice");
  auto last = parse_json(R"({"a": 1, "a": {"x": 2}})", "x",
                         {.unique_keys = false});
  REQUIRE(last);
  CHECK(*last == json{{"a", {{"x", 2}}}});
}

TEST_CASE("parse_json says where the text stops being JSON", "[core][json]") {
  auto utf8 = error_of("{\"input\": \"ok \xff\"}");
  CHECK(utf8.rfind("the input at /input is not valid JSON: ", 0) == 0);
  CHECK(utf8.find("ill-formed UTF-8") != std::string::npos);
  CHECK(error_of("[1, 2,").rfind("the input at /1 is not valid JSON: ", 0) ==
        0);
  CHECK(error_of("").rfind("the input is not valid JSON: ", 0) == 0);
  CHECK(error_of("1 2").rfind("the input is not valid JSON: ", 0) == 0);
  // Comments only where allowed.
  CHECK(error_of("// c\n1").find("not valid JSON") != std::string::npos);
  CHECK(*parse_json("// c\n1", "x", {.comments = true}) == 1);
}

TEST_CASE("parse_object wants an object", "[core][json]") {
  auto r = parse_object("[1]", "the body");
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "the body must be a JSON object, got array");
  CHECK(parse_object("{}", "the body"));
}
