#include "mcp/wire.hpp"

#include <vector>

#include <catch2/catch.hpp>

using namespace troupe;

namespace {

struct lines {
  mcp::line_reader reader;
  std::vector<std::string> got;
  int dropped = 0;

  void feed(std::string_view chunk, size_t max = 8) {
    reader.feed(
      chunk, max,
      [&](std::string line) {
        got.push_back(std::move(line));
        return true;
      },
      [&] {
        ++dropped;
        return true;
      });
  }
};

} // namespace

TEST_CASE("MCP stdio lines: split across reads, CRLF, too long dropped",
          "[mcp]") {
  lines x;
  x.feed("ab");
  x.feed("c\r\nd\n\nef");
  CHECK(x.got == std::vector<std::string>{"abc", "d", ""});
  // "ef" + 10 more bytes: dropped once, up to its newline, then on.
  x.feed("0123456789");
  x.feed("more");
  CHECK(x.dropped == 1);
  x.feed("\nok\n");
  CHECK(x.got == std::vector<std::string>{"abc", "d", "", "ok"});
  x.feed("0123456789\nfine\n");
  CHECK(x.dropped == 2);
  CHECK(x.got.back() == "fine");
}

TEST_CASE("MCP messages: strings and content text", "[mcp]") {
  json item{{"type", "text"}, {"text", "hi"}};
  CHECK(mcp::string_at(item, "text") == "hi");
  CHECK(mcp::string_at(item, "missing").empty());
  CHECK(mcp::string_at(json{{"text", 5}}, "text").empty());
  CHECK(mcp::string_at(json::array(), "text").empty());

  json content = json::array({item,
                              {{"type", "image"}, {"data", "…"}},
                              {{"type", "text"}, {"text", "there"}},
                              7});
  CHECK(mcp::text_of(content) ==
        "hi\n[image content]\nthere\n[unknown content]");
  CHECK(mcp::text_of(json::array()) == "(no content)");
  CHECK(mcp::text_of(json{}) == "(no content)");
}
