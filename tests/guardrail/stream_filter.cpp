// The output filter over streamed text: what leaves, piece by piece, is
// what filtering the whole answer gives — a match split across pieces is
// masked all the same, a blocked text is withheld from the piece it shows.

#include "guardrail/stream_filter.hpp"

#include <catch2/catch.hpp>

#include "llm/rule_based.hpp"

using namespace troupe;
using namespace troupe::guardrail;

namespace {

std::shared_ptr<const output_filter> defaults() {
  auto f = output_filter::make(default_output_rules());
  REQUIRE(f);
  return *f;
}

/// `text` streamed in pieces of `n` bytes.
std::string streamed(stream_filter& s, const std::string& text, size_t n) {
  std::string out;
  for (size_t i = 0; i < text.size(); i += n)
    out += s.feed(std::string_view{text}.substr(i, n));
  return out + s.flush();
}

} // namespace

TEST_CASE("streamed text leaves as the whole would", "[guardrail][stream]") {
  auto f = defaults();
  const std::vector<std::string> texts = {
    "Write to jane.doe@example.com or call +1 415 555 0100 before Friday; "
    "the card on file is 4111 1111 1111 1111 and the rest is plain words "
    "that go on for a while so that the filter has something to cut.",
    "No personal data here at all, just a long answer about the weather in "
    "the mountains, which is cold in the morning and warm in the afternoon.",
    std::string(700, 'x') + " a run without spaces, then jane@example.org",
    "short",
    "",
  };
  for (auto& text : texts)
    for (size_t n : {1, 3, 7, 64, 1000}) {
      INFO(text.substr(0, 30) << " in pieces of " << n);
      stream_filter s{f};
      CHECK(streamed(s, text, n) == f->scrub(text));
    }
}

TEST_CASE("a stream goes out as it comes once past the window",
          "[guardrail][stream]") {
  stream_filter s{defaults(), 16};
  std::string out;
  size_t fed = 0;
  for (auto& piece :
       llm::stream_pieces("one two three four five six seven eight nine ten "
                          "eleven twelve thirteen fourteen fifteen")) {
    fed += piece.size();
    out += s.feed(piece);
  }
  // All but the window has gone out before the end.
  CHECK(out.size() >= fed - 3 * 16);
  CHECK(out.size() < fed);
  out += s.flush();
  CHECK(out == "one two three four five six seven eight nine ten eleven "
               "twelve thirteen fourteen fifteen");
}

TEST_CASE("a blocked stream is withheld from the piece it shows",
          "[guardrail][stream]") {
  auto f = defaults();
  stream_filter s{f};
  std::string text = "Here is the key you asked for, with some words first: "
                     "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n"
                     "-----END RSA PRIVATE KEY----- and more text after it";
  auto out = streamed(s, text, 5);
  CHECK(s.withheld());
  CHECK(out.find("PRIVATE KEY") == std::string::npos);
  CHECK(out.find("[WITHHELD:") != std::string::npos);
  CHECK(s.feed("more").empty());
}

TEST_CASE("without a filter, text passes through at once",
          "[guardrail][stream]") {
  stream_filter s{nullptr};
  CHECK(s.feed("jane@example.com") == "jane@example.com");
  CHECK(s.flush().empty());
}

TEST_CASE("stream pieces join to the text", "[llm][stream]") {
  for (std::string text : {"The answer is 42.", "  leading and\ntrailing  ",
                           "", "one"}) {
    std::string joined;
    for (auto& p : llm::stream_pieces(text))
      joined += p;
    CHECK(joined == text);
  }
  CHECK(llm::stream_pieces("The answer is 42.") ==
        std::vector<std::string>{"The", " answer", " is", " 42."});
}
