// An MCP server's lines into the client's protocol session (mcp::session,
// pure: lines and the time in, lines and events out), as the I/O loop of
// mcp::server drives it: the initialize handshake answered, then every
// line of the input fed, with tools/call requests made and deadlines
// expired on a moving fake clock, and the process closed at the end.
//
// Input: a byte of flags (bit 0: answer tools/list too, so calls go out;
// bit 1: stdin refuses writes after the handshake), a byte for the clock's
// step per line (in 10 ms), then the server's lines.
//
// Every line the session writes must be a JSON-RPC 2.0 object, every call
// completes exactly once, and no line may make a handler throw (feed's
// catch-all is a belt for bugs).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/json.hpp"
#include "core/log.hpp"
#include "mcp/session.hpp"
#include "support.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

using time_point = mcp::session::time_point;

/// Most lines fed from one input.
constexpr size_t max_lines = 256;

mcp::server_config config() {
  mcp::server_config cfg;
  cfg.name = "srv";
  cfg.permissions = {"execute_tools"};
  cfg.call_timeout_ms = 5000;
  cfg.start_timeout_ms = 2000;
  return cfg;
}

/// The session and its owner's side: the lines written, the completions.
struct harness {
  bool refuse = false;
  std::vector<std::string> written;
  std::vector<int> completions;
  bool start_fault = false;
  mcp::session s;

  harness()
    : s(config(), {[this](std::string line) -> result<bool> {
                     check_written(line);
                     if (refuse)
                       return failure{errc::tool_failed,
                                      "MCP server 'srv' closed its stdin"};
                     written.push_back(std::move(line));
                     return true;
                   },
                   [](const std::string&) -> tools::async_function {
                     return [](const json&, const tools::context&,
                               tools::completion) {};
                   }}) {}

  static void check_written(const std::string& line) {
    parse_limits deep;
    deep.max_depth = 256; // ids are echoed, one level down
    auto j = parse_object(line, "a written line", deep);
    if (!j)
      fuzz::broken("the session wrote a line that is not a JSON object");
    auto v = j->find("jsonrpc");
    if (v == j->end() || *v != "2.0")
      fuzz::broken("the session wrote a line without jsonrpc 2.0");
  }

  /// Runs what the session produced, as the owner does once unlocked.
  void pump() {
    auto out = s.take();
    for (auto& e : out.events) {
      if (auto* g = std::get_if<mcp::event::garbage>(&e))
        if (g->why.rfind("a message that could not be handled", 0) == 0)
          fuzz::broken("a server line made a session handler throw");
      if (std::holds_alternative<mcp::event::start_fault>(e))
        start_fault = true;
    }
    for (auto& [done, r] : out.done)
      done(std::move(r));
  }

  void feed(const std::string& line, time_point now) {
    s.feed(line, now);
    pump();
  }

  /// The id of the last request written with `method` (0 if none).
  uint64_t last_id(std::string_view method) const {
    for (auto it = written.rbegin(); it != written.rend(); ++it) {
      auto j = parse_object(*it, "a written line");
      if (j && j->value("method", std::string{}) == method &&
          j->contains("id") && (*j)["id"].is_number_unsigned())
        return (*j)["id"].get<uint64_t>();
    }
    return 0;
  }

  /// A process starts: initialize answered, and tools/list if `list`.
  void handshake(time_point now, bool list) {
    s.start(now);
    pump();
    auto init = last_id("initialize");
    feed(dump({{"jsonrpc", "2.0"},
               {"id", init},
               {"result",
                {{"protocolVersion", "2025-11-25"},
                 {"capabilities", {{"tools", {{"listChanged", true}}}}},
                 {"serverInfo", {{"name", "fake"}, {"version", "0.1.0"}}}}}}),
         now);
    if (!list)
      return;
    auto listed = last_id("tools/list");
    feed(dump({{"jsonrpc", "2.0"},
               {"id", listed},
               {"result",
                {{"tools",
                  {{{"name", "echo"}, {"inputSchema", {{"type", "object"}}}},
                   {{"name", "slow"}}}}}}}),
         now);
  }

  /// A tools/call of `tool`; its completion counts itself.
  void call(const std::string& tool, time_point deadline, time_point now,
            std::shared_ptr<tools::cancellation> cancel = nullptr) {
    auto index = completions.size();
    completions.push_back(0);
    s.call({tool,
            "srv__" + tool,
            {{"message", "hi"}},
            deadline,
            std::move(cancel),
            [this, index](result<json>) {
              if (++completions[index] > 1)
                fuzz::broken("a call completed twice");
            }},
           now);
    pump();
  }
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The session logs what a bad server does: a line per input would flood
  // the fuzzer's output and slow it down.
  log::set_level("off");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::reader in{data, size};
  auto flags = in.byte();
  auto step = std::chrono::milliseconds{10 * in.byte()};
  bool list = flags & 1;
  auto now = time_point{} + 1h;
  harness h;
  h.handshake(now, list);
  h.refuse = (flags & 2) != 0;
  h.call("echo", now + 1000ms, now);
  std::shared_ptr<tools::cancellation> cancel;
  size_t n = 0;
  for (auto line : fuzz::lines(in.rest())) {
    if (++n > max_lines)
      break;
    h.feed(std::string{line}, now);
    now += step;
    if (h.start_fault) {
      // The owner ends the process and starts another.
      h.start_fault = false;
      h.s.close(errc::role_down, "the process was ended");
      h.pump();
      h.refuse = false;
      h.handshake(now, list);
      h.refuse = (flags & 2) != 0;
    }
    if (cancel)
      cancel->cancel();
    cancel = nullptr;
    if (n % 4 == 0) {
      cancel = std::make_shared<tools::cancellation>();
      h.call(n % 8 == 0 ? "slow" : "echo", time_point::max(), now, cancel);
    }
    h.s.expire(now);
    h.pump();
  }
  h.s.expire(now + 1h);
  h.pump();
  h.s.close(errc::role_down, "the process exited");
  h.pump();
  for (auto c : h.completions)
    if (c != 1)
      fuzz::broken("a call never completed");
  return 0;
}
