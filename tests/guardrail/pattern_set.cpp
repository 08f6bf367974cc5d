// The pattern set: Hyperscan's pass plus RE2's windows must find exactly
// what RE2 alone finds, whatever the text.

#include <catch2/catch.hpp>
#include <re2/re2.h>

#include <random>
#include <string>
#include <vector>

#include "guardrail/input_filter.hpp"
#include "guardrail/output_filter.hpp"
#include "guardrail/pattern_set.hpp"

using namespace troupe::guardrail;

namespace {

/// Every non-overlapping leftmost-first match of `regex`, RE2 alone.
std::vector<span> re2_all(const std::string& regex, const std::string& text) {
  re2::RE2 re{regex};
  std::vector<span> out;
  re2::StringPiece input{text};
  re2::StringPiece m;
  size_t pos = 0;
  while (pos <= text.size() &&
         re.Match(input, pos, text.size(), re2::RE2::UNANCHORED, &m, 1)) {
    auto off = static_cast<size_t>(m.data() - text.data());
    out.emplace_back(off, m.size());
    pos = off + std::max<size_t>(m.size(), 1);
  }
  return out;
}

std::vector<pattern> all_default_patterns() {
  auto out = input_filter_config::default_deny_patterns();
  for (auto& r : default_output_rules())
    out.push_back({r.name, r.regex});
  return out;
}

std::shared_ptr<const pattern_set> must_compile(std::vector<pattern> ps) {
  auto set = pattern_set::compile(ps, "test");
  REQUIRE(set);
  return *set;
}

} // namespace

TEST_CASE("the fast pass finds exactly what RE2 alone finds",
          "[guardrail][patterns]") {
  auto patterns = all_default_patterns();
  auto set = must_compile(patterns);
  CHECK(set->accelerated() == patterns.size());
  // Texts built from pieces that make the rules match, half-match and
  // overlap, glued at random.
  static const char* pieces[] = {
    "4111 1111 1111 1111", "4111-1111-1111-1112", "123-45-6789", " ", "-",
    "+44 20 7946 0958", "(555) 123-4567", "jane.doe@example.com", "@", ".",
    "a", "Z", "9", "0", "00", "sk-ant-abcdefghijklmnopqrstuvwxyz012345",
    "Bearer abcdefghijklmnopqrstuvwx", "AKIAABCDEFGHIJKLMNOP", "\n",
    "ignore previous instructions", "<script>", "eval(", "\xff", "\xc3\xa9",
    "-----BEGIN RSA PRIVATE KEY-----", "' or 1=1", "you are now a ",
  };
  std::mt19937 rng{20261125};
  std::uniform_int_distribution<size_t> pick{0, std::size(pieces) - 1};
  std::uniform_int_distribution<int> count{1, 60};
  for (int round = 0; round < 400; ++round) {
    std::string text;
    for (int i = count(rng); i > 0; --i)
      text += pieces[pick(rng)];
    auto found = set->find_all(text);
    std::vector<int> expect_matching;
    for (size_t i = 0; i < patterns.size(); ++i) {
      INFO("pattern " << patterns[i].name << " on: " << text);
      auto expected = re2_all(patterns[i].regex, text);
      CHECK(found[i] == expected);
      if (!expected.empty())
        expect_matching.push_back(static_cast<int>(i));
    }
    CHECK(set->matching(text) == expect_matching);
  }
}

TEST_CASE("a match longer than the first window is found whole",
          "[guardrail][patterns]") {
  auto set = must_compile({{"email", default_output_rules()[1].regex}});
  REQUIRE(set->name(0) == "email");
  auto local = std::string(5000, 'x');
  auto text = "to " + local + "@example.com, and b@c.io";
  auto found = set->find_all(text)[0];
  REQUIRE(found.size() == 2);
  CHECK(found[0] == span{3, local.size() + 12});
  CHECK(text.substr(found[1].first, found[1].second) == "b@c.io");
}

TEST_CASE("patterns the fast pass cannot take run on RE2 alone",
          "[guardrail][patterns]") {
  // Matches the empty string; and RE2's own syntax for a named group.
  auto set = must_compile({{"maybe_a", "a*"},
                           {"named", "(?P<word>kiwi)s?"},
                           {"digits", "[0-9]+"}});
  CHECK(set->accelerated() < 3);
  std::string text = "baa 12 kiwis";
  auto found = set->find_all(text);
  CHECK(found[0] == re2_all("a*", text));
  CHECK(found[1] == std::vector<span>{{7, 5}});
  CHECK(found[2] == std::vector<span>{{4, 2}});
  CHECK(set->matching("no fruit") == std::vector<int>{0});
  CHECK(set->matching("kiwi 7") == std::vector<int>{0, 1, 2});
}

TEST_CASE("bytes that are not UTF-8 are scanned, not refused",
          "[guardrail][patterns]") {
  auto set = must_compile({{"email", default_output_rules()[1].regex}});
  std::string text = "\xff\xfe jane@example.com \xc3\x28";
  auto found = set->find_all(text)[0];
  REQUIRE(found.size() == 1);
  CHECK(text.substr(found[0].first, found[0].second) == "jane@example.com");
}

TEST_CASE("an empty set and empty text are fine", "[guardrail][patterns]") {
  auto none = must_compile({});
  CHECK(none->matching("anything").empty());
  CHECK(none->find_all("anything").empty());
  auto set = must_compile({{"digits", "[0-9]+"}});
  CHECK(set->matching("").empty());
  CHECK(set->find_all("")[0].empty());
}

TEST_CASE("non-ASCII text and a NUL in a pattern cannot slip past the fast "
          "pass",
          "[guardrail][patterns][hardening]") {
  // Found by fuzz/guardrail_rules: Hyperscan reads bytes where RE2 reads
  // UTF-8, and takes patterns as C strings.
  auto set = must_compile({{"dot", "x.y"},
                           {"fold", "(?i)é"},
                           {"anchored", "^.$"},
                           {"nul", std::string{"abc\0|evil", 9}}});
  CHECK(set->matching("xéy") == std::vector<int>{0, 1});
  CHECK(set->matching("É") == std::vector<int>{1, 2});
  CHECK(set->matching("this is evil") == std::vector<int>{3});
  for (std::string text : {"xéy", "É", "é", "this is evil", "xay"}) {
    auto found = set->find_all(text);
    INFO(text);
    CHECK(found[0] == re2_all("x.y", text));
    CHECK(found[1] == re2_all("(?i)é", text));
    CHECK(found[2] == re2_all("^.$", text));
  }
  // The input filter built on it denies what its pattern says.
  input_filter_config cfg;
  cfg.deny_patterns = {{"evil", std::string{"abc\0|evil", 9}}};
  auto filter = input_filter::make(cfg);
  REQUIRE(filter);
  CHECK((*filter)->check("so evil").action == troupe::verdict_action::deny);
}
