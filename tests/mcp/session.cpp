#include "mcp/session.hpp"

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

using namespace troupe;
using namespace std::chrono_literals;

namespace {

using time_point = mcp::session::time_point;

/// The session's clock never runs: every case says what time it is.
const time_point t0 = time_point{} + 1h;

mcp::server_config config() {
  mcp::server_config cfg;
  cfg.name = "srv";
  cfg.permissions = {"execute_tools", "net"};
  cfg.call_timeout_ms = 5000;
  cfg.start_timeout_ms = 2000;
  return cfg;
}

/// A session on a fake stdin: every line it writes, every event and every
/// outcome it delivers are kept in order.
struct wire {
  std::vector<std::string> lines;
  /// Set: `write` refuses with this.
  std::string refuse;
  /// The MCP names the tool entries' bodies were called with.
  std::vector<std::string> called;
  std::vector<mcp::session_event> events;
  std::vector<result<json>> results;
  mcp::session s;

  explicit wire(mcp::server_config cfg = config())
    : s(std::move(cfg),
        {[this](std::string line) -> result<bool> {
           if (!refuse.empty())
             return failure{errc::tool_failed, refuse};
           lines.push_back(std::move(line));
           return true;
         },
         [this](const std::string& mcp_name) -> tools::async_function {
           return [this, mcp_name](const json&, const tools::context&,
                                   tools::completion) {
             called.push_back(mcp_name);
           };
         }}) {}

  wire(const wire&) = delete;
  wire& operator=(const wire&) = delete;

  /// Keeps what the session produced and runs its completions.
  void pump() {
    auto out = s.take();
    for (auto& e : out.events)
      events.push_back(std::move(e));
    for (auto& [done, r] : out.done)
      done(std::move(r));
  }

  void feed(const std::string& line, time_point now = t0) {
    s.feed(line, now);
    pump();
  }

  void call(const std::string& tool, json args, time_point deadline,
            std::shared_ptr<tools::cancellation> cancel = nullptr,
            time_point now = t0) {
    s.call({tool, "srv__" + tool, std::move(args), deadline, std::move(cancel),
            [this](result<json> r) { results.push_back(std::move(r)); }},
           now);
    pump();
  }

  /// The lines written since the last look.
  std::vector<std::string> written() {
    return std::exchange(lines, {});
  }

  std::vector<mcp::session_event> seen() {
    return std::exchange(events, {});
  }

  /// Through initialize and a one-page list of `tools`: ready.
  /// Started and initialized; its first tools/list (id 2) is in flight.
  void initialized() {
    s.start(t0);
    pump();
    feed(
      R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}})");
    written();
  }

  void handshake(json listed = json::array({{{"name", "echo"}}})) {
    s.start(t0);
    pump();
    feed(R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25",)"
         R"("serverInfo":{"name":"fake","version":"0.1.0"}}})");
    feed(
      dump({{"jsonrpc", "2.0"}, {"id", 2}, {"result", {{"tools", listed}}}}));
    REQUIRE(s.ready());
    written();
    seen();
  }
};

template <class E>
std::vector<E> only(const std::vector<mcp::session_event>& xs) {
  std::vector<E> out;
  for (auto& x : xs)
    if (auto* e = std::get_if<E>(&x))
      out.push_back(*e);
  return out;
}

const std::string initialize_line =
  R"({"id":1,"jsonrpc":"2.0","method":"initialize","params":{"capabilities":{},)"
  R"("clientInfo":{"name":"troupe","version":")" TROUPE_VERSION
  R"("},"protocolVersion":"2025-11-25"}})";

} // namespace

TEST_CASE("an MCP session's handshake: initialize, the answer checked, "
          "initialized, then tools/list",
          "[mcp]") {
  wire w;
  CHECK_FALSE(w.s.starting());
  w.s.start(t0);
  w.pump();
  CHECK(w.s.starting());
  CHECK(w.written() == std::vector<std::string>{initialize_line});
  CHECK(w.s.next_deadline() == t0 + 2000ms);
  w.feed(R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18",)"
         R"("capabilities":{},"serverInfo":{"name":"fake","version":"0.1"}}})");
  CHECK(w.written() ==
        std::vector<std::string>{
          R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
          R"({"id":2,"jsonrpc":"2.0","method":"tools/list"})"});
  auto init = only<mcp::event::initialized>(w.seen());
  REQUIRE(init.size() == 1);
  CHECK(init[0].protocol_version == "2025-06-18");
  CHECK(init[0].server_name == "fake");
  CHECK(init[0].server_version == "0.1");
  CHECK(w.s.starting());
  w.feed(R"({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo"}]}})");
  auto listed = only<mcp::event::listed>(w.seen());
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].first);
  REQUIRE(listed[0].tools.size() == 1);
  CHECK(listed[0].tools[0].spec.name == "srv__echo");
  CHECK(w.s.ready());
  CHECK(w.s.next_deadline() == time_point::max());
}

TEST_CASE("an MCP session refuses an unsupported protocol version for good, "
          "other start faults not",
          "[mcp]") {
  wire w;
  w.s.start(t0);
  w.pump();
  w.written();
  w.feed(
    R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"1999-01-01"}})");
  CHECK(w.written().empty()); // no initialized, no tools/list
  auto faults = only<mcp::event::start_fault>(w.seen());
  REQUIRE(faults.size() == 1);
  CHECK(faults[0].permanent);
  CHECK(faults[0].why ==
        R"(answered initialize with protocolVersion "1999-01-01", which )"
        "troupe does not support (it speaks 2025-11-25, 2025-06-18, "
        "2025-03-26 and 2024-11-05)");

  // The next process: an error answer is worth a restart.
  w.s.close(errc::tool_failed, "gone");
  w.s.start(t0);
  w.pump();
  auto again = w.written();
  REQUIRE(again.size() == 1);
  CHECK(json::parse(again[0])["id"] == 2); // ids go on across processes
  w.feed(R"({"jsonrpc":"2.0","id":2,"error":{"code":-32600,"message":"no"}})");
  faults = only<mcp::event::start_fault>(w.seen());
  REQUIRE(faults.size() == 1);
  CHECK_FALSE(faults[0].permanent);
  CHECK(faults[0].why == "refused initialize: MCP error -32600: no");
}

TEST_CASE("an MCP session that gets no answer to initialize faults without "
          "cancelling it",
          "[mcp]") {
  wire w;
  w.s.start(t0);
  w.pump();
  w.written();
  w.s.expire(t0 + 1999ms);
  w.pump();
  CHECK(w.seen().empty());
  w.s.expire(t0 + 2000ms);
  w.pump();
  CHECK(w.written().empty()); // initialize is never cancelled
  auto faults = only<mcp::event::start_fault>(w.seen());
  REQUIRE(faults.size() == 1);
  CHECK(faults[0].why == "did not answer initialize within 2000 ms");
  CHECK_FALSE(faults[0].permanent);
}

TEST_CASE("an MCP session follows tools/list pages and makes engine tool "
          "entries of them",
          "[mcp]") {
  wire w;
  w.initialized();
  w.feed(R"({"jsonrpc":"2.0","id":2,"result":{"nextCursor":"p2","tools":[)"
         R"({"name":"a.b","title":"A B","annotations":{"readOnlyHint":true}},)"
         R"({"description":"no name"}]}})");
  CHECK(
    w.written() ==
    std::vector<std::string>{
      R"({"id":3,"jsonrpc":"2.0","method":"tools/list","params":{"cursor":"p2"}})"});
  CHECK(only<mcp::event::listed>(w.seen()).empty());
  w.feed(R"({"jsonrpc":"2.0","id":3,"result":{"tools":[)"
         R"({"name":"a_b","description":"clashes once sanitised"},)"
         R"({"name":"sum","description":"Adds","inputSchema":{"type":"object",)"
         R"("required":["a"]},"annotations":{"idempotentHint":true}},)"
         R"({"name":"write"}]}})");
  auto listed = only<mcp::event::listed>(w.seen());
  REQUIRE(listed.size() == 1);
  auto& xs = listed[0].tools;
  REQUIRE(xs.size() == 3);
  CHECK(xs[0].spec.name == "srv__a_b");
  CHECK(xs[0].spec.description == "A B"); // its title
  CHECK(xs[0].spec.parameters == R"({"type":"object"})");
  CHECK(xs[0].spec.idempotent);
  CHECK(xs[1].spec.name == "srv__sum");
  CHECK(xs[1].spec.description == "Adds");
  CHECK(xs[1].spec.parameters == R"({"required":["a"],"type":"object"})");
  CHECK(xs[1].spec.idempotent);
  CHECK_FALSE(xs[2].spec.idempotent);
  for (auto& t : xs) {
    CHECK(t.mode == tools::run_mode::async);
    CHECK(t.spec.permissions ==
          std::vector<std::string>{"execute_tools", "net"});
    CHECK(t.spec.timeout_ms == 5000);
  }
  // Each body calls the tool by its MCP name.
  xs[0].async_fn(json::object(), {}, {});
  xs[1].async_fn(json::object(), {}, {});
  CHECK(w.called == std::vector<std::string>{"a.b", "sum"});
}

TEST_CASE("a list_changed while listing lists again once done; once ready, "
          "at once",
          "[mcp]") {
  wire w;
  w.initialized();
  w.feed(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  CHECK(w.written().empty());
  w.feed(R"({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"old"}]}})");
  CHECK(w.written() == std::vector<std::string>{
                         R"({"id":3,"jsonrpc":"2.0","method":"tools/list"})"});
  auto listed = only<mcp::event::listed>(w.seen());
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].first);
  w.feed(R"({"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"new"}]}})");
  listed = only<mcp::event::listed>(w.seen());
  REQUIRE(listed.size() == 1);
  CHECK_FALSE(listed[0].first);
  REQUIRE(listed[0].tools.size() == 1);
  CHECK(listed[0].tools[0].spec.name == "srv__new");
  CHECK(w.written().empty());
  w.feed(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  CHECK(w.written() == std::vector<std::string>{
                         R"({"id":4,"jsonrpc":"2.0","method":"tools/list"})"});
  // A relist has the call timeout, no longer the start's.
  CHECK(w.s.next_deadline() == t0 + 5000ms);
}

TEST_CASE("an MCP session answers the server's ping and refuses its other "
          "requests",
          "[mcp]") {
  wire w;
  w.handshake();
  w.feed(R"({"jsonrpc":"2.0","id":7,"method":"ping"})");
  w.feed(R"({"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage",)"
         R"("params":{"messages":[]}})");
  CHECK(
    w.written() ==
    std::vector<std::string>{
      R"({"id":7,"jsonrpc":"2.0","result":{}})",
      R"({"error":{"code":-32601,"message":"Method not found"},"id":"s1","jsonrpc":"2.0"})"});
  CHECK(w.seen().empty());
}

TEST_CASE("an MCP call: its content and structured content, an isError "
          "result and a JSON-RPC error",
          "[mcp]") {
  wire w;
  w.handshake();
  w.call("echo", {{"message", "hi"}}, time_point::max());
  CHECK(
    w.written() ==
    std::vector<std::string>{
      R"({"id":3,"jsonrpc":"2.0","method":"tools/call","params":{"arguments":{"message":"hi"},"name":"echo"}})"});
  CHECK(w.s.in_flight() == 1);
  auto counts = only<mcp::event::in_flight>(w.seen());
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].calls == 1);
  w.feed(R"({"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text",)"
         R"("text":"Echo: hi"}],"structuredContent":{"n":1},"extra":true}})");
  REQUIRE(w.results.size() == 1);
  REQUIRE(w.results[0]);
  CHECK(*w.results[0] ==
        json::parse(R"({"content":[{"type":"text","text":"Echo: hi"}],)"
                    R"("structuredContent":{"n":1}})"));
  counts = only<mcp::event::in_flight>(w.seen());
  REQUIRE(counts.size() == 1);
  CHECK(counts[0].calls == 0);

  w.call("echo", json{}, time_point::max()); // null arguments: {}
  CHECK(json::parse(w.written().at(0))["params"]["arguments"] ==
        json::object());
  w.feed(R"({"jsonrpc":"2.0","id":4,"result":{"isError":true,)"
         R"("content":[{"type":"text","text":"boom"},{"type":"image"}]}})");
  w.call("echo", json::object(), time_point::max());
  w.feed(R"({"jsonrpc":"2.0","id":5,"error":{"code":-32000,)"
         R"("message":"deliberate failure"}})");
  REQUIRE(w.results.size() == 3);
  REQUIRE_FALSE(w.results[1]);
  CHECK(w.results[1].error().code == errc::tool_failed);
  CHECK(w.results[1].error().message == "srv__echo: boom\n[image content]");
  REQUIRE_FALSE(w.results[2]);
  CHECK(w.results[2].error().code == errc::tool_failed);
  CHECK(w.results[2].error().message ==
        "srv__echo: MCP error -32000: deliberate failure");
}

TEST_CASE("an MCP call past its deadline is abandoned with "
          "notifications/cancelled, and its late answer ignored",
          "[mcp]") {
  wire w;
  w.handshake();
  w.call("slow", json::object(), t0 + 100ms);
  w.written();
  w.seen();
  CHECK(w.s.next_deadline() == t0 + 100ms);
  w.s.expire(t0 + 99ms);
  w.pump();
  CHECK(w.results.empty());
  w.s.expire(t0 + 100ms);
  w.pump();
  CHECK(
    w.written() ==
    std::vector<std::string>{
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":"timeout","requestId":3}})"});
  REQUIRE(w.results.size() == 1);
  REQUIRE_FALSE(w.results[0]);
  CHECK(w.results[0].error().code == errc::timeout);
  CHECK(w.results[0].error().message ==
        "srv__slow: MCP server 'srv' did not answer within 100 ms");
  CHECK(w.s.in_flight() == 0);
  w.seen();

  // Its late answer is no garbage and completes nothing; an unknown id is.
  w.feed(R"({"jsonrpc":"2.0","id":3,"result":{"content":[]}})");
  CHECK(w.seen().empty());
  w.feed(R"({"jsonrpc":"2.0","id":4242,"result":{}})");
  auto garbage = only<mcp::event::garbage>(w.seen());
  REQUIRE(garbage.size() == 1);
  CHECK(garbage[0].why == "a response to an unknown id");
  CHECK(w.results.size() == 1);

  // A cancel is announced the same way; the call fails as cancelled.
  auto cancel = std::make_shared<tools::cancellation>();
  w.call("slow", json::object(), time_point::max(), cancel);
  REQUIRE(w.s.cancels() ==
          std::vector<const tools::cancellation*>{cancel.get()});
  w.written();
  cancel->cancel();
  w.s.expire(t0);
  w.pump();
  CHECK(
    w.written() ==
    std::vector<std::string>{
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":"cancelled","requestId":4}})"});
  REQUIRE(w.results.size() == 2);
  CHECK(w.results[1].error().code == errc::cancelled);
  CHECK(w.results[1].error().message == "srv__slow: the call was cancelled");
  CHECK(w.s.cancels().empty());
}

TEST_CASE("an MCP call stdin cannot take fails at once; closing fails those "
          "in flight",
          "[mcp]") {
  wire w;
  w.handshake();
  w.call("echo", json::object(), time_point::max());
  w.refuse = "MCP server 'srv' closed its stdin";
  w.call("echo", json::object(), time_point::max());
  REQUIRE(w.results.size() == 1);
  CHECK(w.results[0].error().code == errc::tool_failed);
  CHECK(w.results[0].error().message ==
        "srv__echo: MCP server 'srv' closed its stdin");
  CHECK(w.s.in_flight() == 1);
  w.s.close(errc::tool_failed, "MCP server 'srv' exited with code 3");
  w.pump();
  REQUIRE(w.results.size() == 2);
  CHECK(w.results[1].error().message ==
        "srv__echo: MCP server 'srv' exited with code 3");
  CHECK(w.s.in_flight() == 0);
  CHECK_FALSE(w.s.ready());
}

TEST_CASE("an MCP session drops a too-deep line and other garbage, and goes "
          "on",
          "[mcp]") {
  wire w;
  w.handshake();
  auto deep = std::string(100, '[') + std::string(100, ']');
  for (auto* line : {"this is not json", R"({"foo":1})", "[1,2,3]",
                     R"({"jsonrpc":"1.0","id":1,"result":{}})",
                     R"({"jsonrpc":"2.0"})", "", "  "})
    w.feed(line);
  w.feed(deep);
  auto garbage = only<mcp::event::garbage>(w.seen());
  std::vector<std::string> why;
  for (auto& g : garbage)
    why.push_back(g.why);
  REQUIRE(why.size() == 6);
  // The 65th bracket opens inside the first element of 63 arrays.
  std::string at;
  for (int i = 0; i < 63; ++i)
    at += "/0";
  CHECK(why[0].rfind("the line is not valid JSON: ", 0) == 0);
  why.erase(why.begin());
  CHECK(why == std::vector<std::string>{
                 "not a JSON-RPC 2.0 message", "not a JSON-RPC 2.0 message",
                 "not a JSON-RPC 2.0 message",
                 "neither request, notification nor response",
                 "the line at " + at + " nests deeper than 64 levels"});
  CHECK(garbage.back().line == deep);
  CHECK(w.written().empty());
  CHECK(w.s.ready());
  w.feed(R"({"jsonrpc":"2.0","id":7,"method":"ping"})");
  CHECK(w.written().size() == 1);
}
