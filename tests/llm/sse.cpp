// The event-stream parser: events split anywhere, every line ending,
// comments, and cut streams.

#include "llm/sse.hpp"

#include <catch2/catch.hpp>

using namespace troupe;
using namespace troupe::llm;

namespace {

std::vector<sse_event> parse_in_pieces(const std::string& text, size_t piece) {
  sse_parser p;
  std::vector<sse_event> out;
  for (size_t i = 0; i < text.size(); i += piece)
    REQUIRE(p.feed(std::string_view{text}.substr(i, piece), out));
  CHECK_FALSE(p.pending());
  return out;
}

} // namespace

TEST_CASE("events parse the same however the bytes are split", "[llm][sse]") {
  std::string text = ": keep-alive\n"
                     "event: message_start\n"
                     "data: {\"a\":1}\n\n"
                     "data: line one\r\n"
                     "data: line two\r\n\r\n"
                     "data:no space\r\r"
                     "event: ping\n\n" // no data: dropped
                     "data: [DONE]\n\n";
  for (size_t piece : {1u, 2u, 3u, 7u, 1000u}) {
    INFO("pieces of " << piece);
    auto events = parse_in_pieces(text, piece);
    REQUIRE(events.size() == 4);
    CHECK(events[0].event == "message_start");
    CHECK(events[0].data == "{\"a\":1}");
    CHECK(events[1].event.empty());
    CHECK(events[1].data == "line one\nline two");
    CHECK(events[2].data == "no space");
    CHECK(events[3].data == "[DONE]");
  }
}

TEST_CASE("a stream cut mid-event is noticed", "[llm][sse]") {
  sse_parser p;
  std::vector<sse_event> out;
  REQUIRE(p.feed("data: {\"choices\":[{\"delta\":{\"content\":\"Hel", out));
  CHECK(out.empty());
  CHECK(p.pending());
}

TEST_CASE("an endless event is an error, not unbounded memory", "[llm][sse]") {
  sse_parser p{1024};
  std::vector<sse_event> out;
  auto r = p.feed("data: " + std::string(2000, 'x'), out);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::provider_failed);
  CHECK(r.error().message.find("larger than 1024 bytes") != std::string::npos);
}
