#include "tools/schema.hpp"

#include <catch2/catch.hpp>

using namespace troupe;

namespace {

std::shared_ptr<const tools::schema_validator> compile(const char* text) {
  auto s = tools::schema_validator::compile(json::parse(text), "test");
  REQUIRE(s);
  return *s;
}

/// The error message of checking `args`, or "" if they pass.
std::string problems(const tools::schema_validator& s, const char* args) {
  auto ok = s.check(json::parse(args));
  if (ok)
    return {};
  CHECK(ok.error().code == errc::invalid_arguments);
  return ok.error().message;
}

} // namespace

TEST_CASE("schema violations name the field", "[tools][schema]") {
  auto s = compile(R"({
    "type": "object",
    "properties": {
      "path": {"type": "string"},
      "n": {"type": "integer", "minimum": 0},
      "opts": {"type": "object",
               "properties": {"mode": {"enum": ["r", "w"]}}},
      "tags": {"type": "array", "items": {"type": "string"}}
    },
    "required": ["path"],
    "additionalProperties": false
  })");
  CHECK(problems(*s, R"({"path":"a","n":1,"opts":{"mode":"r"},"tags":["x"]})")
          .empty());
  auto missing = problems(*s, R"({"n":1})");
  CHECK_THAT(missing, Catch::Contains("argument 'path': missing (required)"));
  auto wrong = problems(*s, R"({"path":5})");
  CHECK_THAT(wrong, Catch::Contains("argument 'path': wrong type (got number)"));
  auto extra = problems(*s, R"({"path":"a","extra":1})");
  CHECK_THAT(extra, Catch::Contains("argument 'extra': not allowed"));
  auto nested = problems(*s, R"({"path":"a","opts":{"mode":"x"}})");
  CHECK_THAT(nested, Catch::Contains("argument 'opts.mode':"));
  auto item = problems(*s, R"({"path":"a","tags":["ok",2]})");
  CHECK_THAT(item, Catch::Contains("argument 'tags[1]': wrong type"));
  auto below = problems(*s, R"({"path":"a","n":-1})");
  CHECK_THAT(below, Catch::Contains("argument 'n':"));
  // Every violation is listed, not only the first.
  auto both = problems(*s, R"({"n":1.5})");
  CHECK_THAT(both, Catch::Contains("'path'") && Catch::Contains("'n'"));
  // Summary lines that only repeat a deeper error are left out.
  CHECK_THAT(nested, !Catch::Contains("Failed to validate"));
}

TEST_CASE("patterns are checked with RE2, formats are not asserted",
          "[tools][schema]") {
  auto s = compile(R"({
    "type": "object",
    "properties": {
      "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
      "when": {"type": "string", "format": "date-time"},
      "ids": {"type": "array", "items": {"$ref": "#/definitions/id"}},
      "format": {"type": "string"}
    },
    "definitions": {"id": {"type": "string", "pattern": "^id[0-9]$"}}
  })");
  CHECK(problems(*s, R"({"code":"ABC-12","ids":["id1"],"format":"x"})").empty());
  CHECK_THAT(problems(*s, R"({"code":"abc"})"),
             Catch::Contains("argument 'code': does not match the pattern"));
  CHECK_THAT(problems(*s, R"({"ids":["id1","nope"]})"),
             Catch::Contains("argument 'ids[1]': does not match"));
  // A property named "format" is a property, not the keyword.
  CHECK_THAT(problems(*s, R"({"format":1})"),
             Catch::Contains("argument 'format': wrong type"));
  // A long string a backtracking engine could choke on.
  std::string long_text(200000, 'A');
  json args{{"code", long_text + "!"}, {"when", long_text}};
  auto ok = s->check(args);
  REQUIRE_FALSE(ok);
  CHECK_THAT(ok.error().message, Catch::Contains("'code'"));
}

TEST_CASE("bad schemas are refused with the reason", "[tools][schema]") {
  auto fails = [](const char* text, const char* why) {
    auto s = tools::schema_validator::compile(json::parse(text), "tool 'x'");
    REQUIRE_FALSE(s);
    CHECK(s.error().code == errc::invalid_config);
    CHECK_THAT(s.error().message, Catch::Contains("tool 'x'"));
    CHECK_THAT(s.error().message, Catch::Contains(why));
  };
  fails(R"([1,2])", "must be an object");
  fails(R"({"type":"bogus"})", "bogus");
  fails(R"({"$ref":"http://example.com/schema.json"})", "emote");
  fails(R"({"properties":{"a":{"pattern":"(unclosed"}}})", "pattern");
  fails(R"({"patternProperties":{"^x":{}}})", "patternProperties");
  fails(R"({"anyOf":[{"pattern":"^a"},{"type":"number"}]})", "conditional");
  // What would reach valijson's std::regex: URIs and long ids.
  fails(R"({"$ref":"urn:x"})", "not local");
  fails(R"({"properties":{"a":{"$ref":"#/nowhere"}}})", "points nowhere");
  auto long_id = json{{"$id", std::string(300, 'a')}};
  auto s = tools::schema_validator::compile(long_id, "tool 'x'");
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::Contains("longer than 256"));
  // A pattern below the second turn of a recursion could not be checked.
  fails(R"({"$ref":"#/definitions/n","definitions":{"n":{"properties":{
          "name":{"pattern":"^a"},"child":{"$ref":"#/definitions/n"}}}}})",
        "recursive schema");
}

TEST_CASE("recursive schemas compile and check", "[tools][schema]") {
  auto s = compile(R"({
    "type": "object",
    "properties": {"tree": {"$ref": "#/definitions/node"}},
    "definitions": {"node": {
      "type": "object",
      "properties": {"name": {"type": "string"},
                     "children": {"type": "array",
                                  "items": {"$ref": "#/definitions/node"}}}}}
  })");
  CHECK(problems(*s, R"({"tree":{"name":"a","children":[{"name":"b"}]}})")
          .empty());
  CHECK_THAT(problems(*s, R"({"tree":{"children":[{"name":3}]}})"),
             Catch::Contains("argument 'tree.children[0].name': wrong type"));
}
