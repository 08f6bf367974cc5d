#include "mcp/server.hpp"

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include <dirent.h>
#include <sys/types.h>

using namespace troupe;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

std::string mcp_dir() {
  return std::string{TROUPE_SOURCE_DIR} + "/tests/mcp/";
}

std::string everything_js() {
  return mcp_dir() +
         "node_modules/@modelcontextprotocol/server-everything/dist/index.js";
}

/// Every tool list a server reported, in order.
struct tool_log {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::vector<tools::entry>> lists;

  mcp::tools_fn callback() {
    return [this](const std::string&, std::vector<tools::entry> xs) {
      {
        std::lock_guard guard{mutex};
        lists.push_back(std::move(xs));
      }
      cv.notify_all();
    };
  }

  /// Waits until at least `n` lists came; returns how many did.
  size_t wait_for(size_t n, std::chrono::milliseconds deadline = 10s) {
    std::unique_lock guard{mutex};
    cv.wait_for(guard, deadline, [&] { return lists.size() >= n; });
    return lists.size();
  }

  std::vector<tools::entry> latest() {
    std::lock_guard guard{mutex};
    return lists.empty() ? std::vector<tools::entry>{} : lists.back();
  }

  size_t count() {
    std::lock_guard guard{mutex};
    return lists.size();
  }
};

const tools::entry* find(const std::vector<tools::entry>& xs,
                         const std::string& name) {
  auto i = std::find_if(xs.begin(), xs.end(),
                        [&](auto& e) { return e.spec.name == name; });
  return i == xs.end() ? nullptr : &*i;
}

/// A call's outcome, delivered by its completion.
struct pending_call {
  std::shared_ptr<std::promise<result<json>>> promise =
    std::make_shared<std::promise<result<json>>>();
  std::future<result<json>> future = promise->get_future();

  tools::completion done() {
    return [p = promise](result<json> r) { p->set_value(std::move(r)); };
  }

  result<json> get(std::chrono::milliseconds deadline = 10s) {
    if (future.wait_for(deadline) != std::future_status::ready)
      return failure{errc::unspecified, "the call did not complete in time"};
    return future.get();
  }
};

result<json> call(mcp::server& s, const std::string& tool, json args,
                  const tools::context& ctx = {}) {
  pending_call c;
  s.call(tool, args, ctx, c.done());
  return c.get();
}

/// The text of the first content item of a call's output.
std::string text(const result<json>& r) {
  REQUIRE(r);
  return (*r)["content"].at(0).at("text").get<std::string>();
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds deadline = 10s) {
  auto until = clock_type::now() + deadline;
  while (!pred()) {
    if (clock_type::now() >= until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

mcp::server_config everything_config(std::string name = "everything") {
  mcp::server_config cfg;
  cfg.name = std::move(name);
  cfg.command = "node";
  cfg.args = {everything_js(), "stdio"};
  cfg.env = {{"TROUPE_MCP_TEST", "1"}};
  // Its long-running operations keep it from exiting when stdin closes.
  cfg.stop_timeout_ms = 300;
  return cfg;
}

mcp::server_config fake_config(std::vector<std::string> flags) {
  mcp::server_config cfg;
  cfg.name = "fake";
  cfg.command = "node";
  cfg.args = {mcp_dir() + "fake_server.js"};
  cfg.args.insert(cfg.args.end(), flags.begin(), flags.end());
  cfg.restart_initial_ms = 20;
  cfg.restart_max_ms = 1000;
  cfg.stop_timeout_ms = 200;
  return cfg;
}

/// One server-everything shared by the cases that leave it as they found
/// it (it takes half a second to start).
struct everything_fixture {
  tool_log tools;
  mcp::server server{everything_config(), tools.callback()};
};

everything_fixture& everything() {
  INFO("server-everything missing: run scripts/setup");
  REQUIRE(std::filesystem::exists(everything_js()));
  static everything_fixture f;
  auto ready = f.server.wait_ready(clock_type::now() + 15s);
  INFO((ready ? "" : ready.error().message));
  REQUIRE(ready);
  return f;
}

size_t open_fds() {
  size_t n = 0;
  if (auto* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr)
      ++n;
    ::closedir(d);
  }
  return n;
}

} // namespace

TEST_CASE("an MCP server's config, tool names and versions are checked",
          "[mcp]") {
  auto cfg = fake_config({});
  CHECK(mcp::validate(cfg));
  cfg.name = "my server";
  auto bad = mcp::validate(cfg);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_config);
  CHECK(contains(bad.error().message, "'my server'"));
  cfg.name = "ok";
  cfg.command.clear();
  CHECK(contains(mcp::validate(cfg).error().message, "command"));
  cfg = fake_config({});
  cfg.restart_max_ms = 1;
  CHECK(contains(mcp::validate(cfg).error().message, "restart_max_ms"));
  cfg = fake_config({});
  cfg.env["A=B"] = "x";
  CHECK(contains(mcp::validate(cfg).error().message, "'A=B'"));

  CHECK(mcp::tool_name("srv", "get-sum") == "srv__get-sum");
  CHECK(mcp::tool_name("srv", "a.b/c d") == "srv__a_b_c_d");
  auto long1 = mcp::tool_name("srv", std::string(100, 'x') + "1");
  auto long2 = mcp::tool_name("srv", std::string(100, 'x') + "2");
  CHECK(long1.size() == 64);
  CHECK(long1 != long2);

  CHECK(mcp::supported_version("2025-11-25"));
  CHECK(mcp::supported_version("2024-11-05"));
  CHECK_FALSE(mcp::supported_version("2024-10-07"));

  mcp::server invalid{cfg, {}};
  CHECK(invalid.status().state == mcp::server_state::failed);
  CHECK_FALSE(invalid.wait_ready(clock_type::now() + 1s));
}

TEST_CASE("server-everything: handshake, and its tools under the prefix with "
          "their schemas",
          "[mcp]") {
  auto& f = everything();
  auto st = f.server.status();
  CHECK(st.state == mcp::server_state::ready);
  CHECK(st.protocol_version == "2025-11-25");
  CHECK(st.server_name == "mcp-servers/everything");
  CHECK(st.pid > 0);
  CHECK(st.restarts == 0);
  CHECK(st.tools >= 13);
  auto tools = f.tools.latest();
  auto* echo = find(tools, "everything__echo");
  auto* sum = find(tools, "everything__get-sum");
  REQUIRE(echo != nullptr);
  REQUIRE(sum != nullptr);
  CHECK(echo->mode == tools::run_mode::async);
  CHECK(echo->async_fn);
  CHECK_FALSE(echo->fn);
  CHECK(echo->spec.idempotent); // readOnlyHint
  CHECK(echo->spec.timeout_ms == 30000);
  CHECK(echo->spec.permissions == std::vector<std::string>{"execute_tools"});
  auto schema = json::parse(sum->spec.parameters);
  CHECK(schema["properties"]["a"]["type"] == "number");
  CHECK(schema["required"] == json({"a", "b"}));
  auto* logging = find(tools, "everything__toggle-simulated-logging");
  REQUIRE(logging != nullptr);
  CHECK_FALSE(logging->spec.idempotent);
}

TEST_CASE("server-everything: echo, get-sum and structured content through "
          "the tool entries",
          "[mcp]") {
  auto& f = everything();
  auto tools = f.tools.latest();
  auto run = [&](const std::string& name, json args) {
    auto* e = find(tools, name);
    REQUIRE(e != nullptr);
    pending_call c;
    e->async_fn(args, {}, c.done());
    return c.get();
  };
  CHECK(text(run("everything__echo", {{"message", "hello"}})) == "Echo: hello");
  CHECK(text(run("everything__get-sum", {{"a", 2}, {"b", 3.5}})) ==
        "The sum of 2 and 3.5 is 5.5.");
  auto weather =
    run("everything__get-structured-content", {{"location", "Chicago"}});
  REQUIRE(weather);
  CHECK((*weather)["structuredContent"]["temperature"] == 36);
}

TEST_CASE("server-everything: an unknown tool and bad arguments are tool "
          "errors",
          "[mcp]") {
  auto& f = everything();
  auto unknown = call(f.server, "no-such-tool", json::object());
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == errc::tool_failed);
  CHECK(contains(unknown.error().message, "everything__no-such-tool: "));
  CHECK(contains(unknown.error().message, "Tool no-such-tool not found"));
  auto bad = call(f.server, "echo", {{"message", 5}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::tool_failed);
  CHECK(contains(bad.error().message, "Invalid arguments for tool echo"));
  CHECK(f.server.status().garbage_lines == 0);
}

TEST_CASE("server-everything: its list_changed after initialized refreshes "
          "the tools",
          "[mcp]") {
  auto& f = everything();
  // The first list, then the one its unprompted list_changed asked for.
  CHECK(f.tools.wait_for(2) >= 2);
  CHECK(find(f.tools.latest(), "everything__echo") != nullptr);
}

TEST_CASE("server-everything: it sees PATH and its configured env only",
          "[mcp]") {
  auto& f = everything();
  // main() sets XDG_DATA_HOME in the engine's environment.
  REQUIRE(std::getenv("XDG_DATA_HOME") != nullptr);
  auto env = text(call(f.server, "get-env", json::object()));
  CHECK(contains(env, "TROUPE_MCP_TEST"));
  CHECK(contains(env, "PATH"));
  CHECK_FALSE(contains(env, "XDG_DATA_HOME"));
}

TEST_CASE("server-everything: a deadline or a cancel fails a long call at "
          "once",
          "[mcp]") {
  auto& f = everything();
  json long_op{{"duration", 5}, {"steps", 5}};
  tools::context ctx;
  ctx.deadline = clock_type::now() + 300ms;
  auto t0 = clock_type::now();
  auto late = call(f.server, "trigger-long-running-operation", long_op, ctx);
  REQUIRE_FALSE(late);
  CHECK(late.error().code == errc::timeout);
  CHECK(clock_type::now() - t0 < 2s);

  tools::context cctx;
  cctx.cancel = std::make_shared<tools::cancellation>();
  pending_call c;
  f.server.call("trigger-long-running-operation", long_op, cctx, c.done());
  REQUIRE(eventually([&] { return f.server.status().in_flight == 1; }));
  t0 = clock_type::now();
  cctx.cancel->cancel();
  auto cancelled = c.get(2s);
  REQUIRE_FALSE(cancelled);
  CHECK(cancelled.error().code == errc::cancelled);
  CHECK(clock_type::now() - t0 < 1s);
  CHECK(f.server.status().in_flight == 0);
  // The server goes on serving.
  CHECK(text(call(f.server, "echo", {{"message", "after"}})) == "Echo: after");
}

TEST_CASE("server-everything: killed mid-call, the call fails at once and "
          "the server is restarted",
          "[mcp]") {
  REQUIRE(std::filesystem::exists(everything_js()));
  tool_log log;
  mcp::server s{everything_config("ev2"), log.callback()};
  REQUIRE(s.wait_ready(clock_type::now() + 15s));
  auto lists = log.wait_for(2);
  pending_call c;
  s.call("trigger-long-running-operation", {{"duration", 5}, {"steps", 5}}, {},
         c.done());
  REQUIRE(eventually([&] { return s.status().in_flight == 1; }));
  auto pid = s.status().pid;
  auto t0 = clock_type::now();
  REQUIRE(::kill(pid, SIGKILL) == 0);
  auto r = c.get(3s);
  REQUIRE_FALSE(r);
  CHECK(clock_type::now() - t0 < 1s);
  CHECK(r.error().code == errc::tool_failed);
  INFO(r.error().message);
  CHECK(contains(r.error().message, "MCP server 'ev2'"));
  CHECK(contains(r.error().message, "signal 9"));
  CHECK(contains(r.error().message, "in flight"));
  // While it is down, calls fail at once and say why.
  auto down = call(s, "echo", {{"message", "x"}});
  REQUIRE_FALSE(down);
  CHECK(contains(down.error().message, "signal 9"));
  REQUIRE(eventually([&] {
    auto st = s.status();
    return st.state == mcp::server_state::ready && st.restarts == 1;
  }));
  CHECK(s.status().pid != pid);
  CHECK(log.wait_for(lists + 1) > lists); // its tools again
  CHECK(text(call(s, "echo", {{"message", "again"}})) == "Echo: again");
}

TEST_CASE("an MCP server answering an older protocol version is accepted, "
          "its paged tool list followed",
          "[mcp]") {
  tool_log log;
  mcp::server s{fake_config({"--version=2025-06-18", "--pages"}),
                log.callback()};
  REQUIRE(s.wait_ready(clock_type::now() + 10s));
  auto st = s.status();
  CHECK(st.protocol_version == "2025-06-18");
  CHECK(st.server_name == "fake");
  CHECK(st.server_version == "0.1.0");
  auto tools = log.latest();
  CHECK(tools.size() == 7);
  REQUIRE(find(tools, "fake__rpc-error") != nullptr);
  CHECK(find(tools, "fake__rpc-error")->spec.idempotent);
  REQUIRE(find(tools, "fake__exit") != nullptr);
  CHECK(find(tools, "fake__exit")->spec.description == "Exit"); // its title
  auto failed = call(s, "rpc-error", json::object());
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code == errc::tool_failed);
  CHECK(contains(failed.error().message, "-32000"));
  CHECK(contains(failed.error().message, "deliberate failure"));
}

TEST_CASE("an MCP server answering an unsupported version fails to start",
          "[mcp]") {
  mcp::server s{fake_config({"--version=1999-01-01"}), {}};
  auto r = s.wait_ready(clock_type::now() + 10s);
  REQUIRE_FALSE(r);
  INFO(r.error().message);
  CHECK(contains(r.error().message, "1999-01-01"));
  CHECK(contains(r.error().message, "does not support"));
  auto st = s.status();
  CHECK(st.state == mcp::server_state::failed);
  CHECK(st.pid == -1);
  CHECK(st.restarts == 0);
}

TEST_CASE("an MCP server that cannot be started or never answers", "[mcp]") {
  auto cfg = fake_config({});
  cfg.command = "/nonexistent/troupe-mcp-server";
  mcp::server missing{cfg, {}};
  auto r = missing.wait_ready(clock_type::now() + 5s);
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "cannot start"));
  CHECK(contains(r.error().message, "No such file"));

  cfg = fake_config({"--silent"});
  cfg.start_timeout_ms = 200;
  mcp::server silent{cfg, {}};
  REQUIRE(eventually([&] { return silent.status().restarts >= 1; }));
  CHECK(contains(silent.status().last_error,
                 "did not answer initialize within 200 ms"));
}

TEST_CASE("garbage on an MCP server's stdout is counted and ignored", "[mcp]") {
  auto cfg = fake_config({"--garbage", "--big=10000"});
  cfg.max_line_bytes = 4096;
  mcp::server s{cfg, {}};
  REQUIRE(s.wait_ready(clock_type::now() + 10s));
  // Not JSON (twice), no jsonrpc, an array, JSON-RPC 1.0, an unknown id,
  // neither request nor response, too deep, too long.
  REQUIRE(eventually([&] { return s.status().garbage_lines >= 9; }));
  CHECK(text(call(s, "echo", {{"message", "still here"}})) ==
        "Echo: still here");
  auto st = s.status();
  CHECK(st.garbage_lines == 9);
  CHECK(st.state == mcp::server_state::ready);
  CHECK(st.restarts == 0);
}

TEST_CASE("an MCP server's requests: ping is answered, the rest are "
          "method-not-found",
          "[mcp]") {
  mcp::server s{fake_config({"--ask"}), {}};
  REQUIRE(s.wait_ready(clock_type::now() + 10s));
  json seen;
  REQUIRE(eventually([&] {
    seen = json::parse(text(call(s, "report", json::object())));
    return seen.contains("s1") && seen.contains("7");
  }));
  CHECK(seen["s1"]["id"] == "s1");
  CHECK(seen["s1"]["error"]["code"] == -32601);
  CHECK(seen["7"]["id"] == 7);
  CHECK(seen["7"]["result"] == json::object());
}

TEST_CASE("an MCP server that exits is restarted with backoff", "[mcp]") {
  tool_log log;
  mcp::server s{fake_config({}), log.callback()};
  REQUIRE(s.wait_ready(clock_type::now() + 10s));
  auto r = call(s, "exit", {{"code", 3}});
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "MCP server 'fake' exited with code 3"));
  CHECK(contains(r.error().message, "in flight"));
  auto st = s.status();
  CHECK(st.backoff_ms == 20);
  CHECK(contains(st.last_error, "exited with code 3"));
  REQUIRE(eventually([&] {
    auto x = s.status();
    return x.state == mcp::server_state::ready && x.restarts == 1;
  }));
  // Down again soon after: the wait doubles.
  CHECK_FALSE(call(s, "exit", {{"code", 4}}));
  CHECK(s.status().backoff_ms == 40);
  REQUIRE(eventually([&] {
    auto x = s.status();
    return x.state == mcp::server_state::ready && x.restarts == 2;
  }));
  CHECK(log.wait_for(3) >= 3); // its tools after each start
  CHECK(text(call(s, "echo", {{"message", "back"}})) == "Echo: back");
}

TEST_CASE("a stuck MCP server makes calls fail, never blocks the engine",
          "[mcp]") {
  auto cfg = fake_config({"--no-read"});
  cfg.max_line_bytes = 64 * 1024;
  mcp::server s{cfg, {}};
  REQUIRE(s.wait_ready(clock_type::now() + 10s));
  // Each call is 20 KB: the pipe and the bounded queue fill up, then a call
  // fails at once.
  tools::context ctx;
  ctx.deadline = clock_type::now() + 5s;
  std::vector<pending_call> calls(40);
  for (auto& c : calls)
    s.call("echo", {{"message", std::string(20000, 'x')}}, ctx, c.done());
  auto refused = [&]() -> pending_call* {
    for (auto& c : calls)
      if (c.future.wait_for(0s) == std::future_status::ready)
        return &c;
    return nullptr;
  };
  REQUIRE(eventually([&] { return refused() != nullptr; }, 3s));
  auto r = refused()->future.get();
  REQUIRE_FALSE(r);
  INFO(r.error().message);
  CHECK(contains(r.error().message, "not reading its input"));
}

TEST_CASE("shutting down an MCP server that ignores EOF and SIGTERM kills "
          "and reaps it, leaving no fds",
          "[mcp]") {
  auto fds = open_fds();
  auto s = std::make_unique<mcp::server>(
    fake_config({"--ignore-eof", "--ignore-term"}), mcp::tools_fn{});
  REQUIRE(s->wait_ready(clock_type::now() + 10s));
  auto pid = s->status().pid;
  auto t0 = clock_type::now();
  s.reset();
  auto took = clock_type::now() - t0;
  // stdin closed, 200 ms; SIGTERM, 200 ms; SIGKILL.
  CHECK(took >= 400ms);
  CHECK(took < 3s);
  CHECK(::kill(pid, 0) == -1); // gone and reaped: not even a zombie
  CHECK(errno == ESRCH);
  CHECK(open_fds() == fds);
}

TEST_CASE("a cancelled MCP call is announced to the server, and its late "
          "answer ignored",
          "[mcp]") {
  mcp::server s{fake_config({}), {}};
  REQUIRE(s.wait_ready(clock_type::now() + 10s));
  tools::context ctx;
  ctx.cancel = std::make_shared<tools::cancellation>();
  pending_call c;
  s.call("wait-for-cancel", json::object(), ctx, c.done());
  REQUIRE(eventually([&] { return s.status().in_flight == 1; }));
  ctx.cancel->cancel();
  auto r = c.get(2s);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::cancelled);
  // The server answers the cancelled call before this one: the late
  // answer has been read (and dropped) by the time the report comes.
  auto seen = json::parse(text(call(s, "report", json::object())));
  CHECK(seen["cancelled"]["reason"] == "cancelled");
  CHECK(seen["cancelled"]["requestId"].is_number());
  CHECK(s.status().garbage_lines == 0);
}

TEST_CASE("an MCP server's list_changed brings its new tools", "[mcp]") {
  tool_log log;
  mcp::server s{fake_config({}), log.callback()};
  REQUIRE(s.wait_ready(clock_type::now() + 10s));
  REQUIRE(log.count() == 1);
  CHECK(find(log.latest(), "fake__extra.tool") == nullptr);
  CHECK(text(call(s, "add-tool", {{"name", "extra.tool"}})) == "added");
  REQUIRE(log.wait_for(2) == 2);
  auto tools = log.latest();
  auto* extra = find(tools, "fake__extra_tool");
  REQUIRE(extra != nullptr);
  // It is called by its MCP name.
  pending_call c;
  extra->async_fn(json::object(), {}, c.done());
  auto r = c.get();
  REQUIRE_FALSE(r);
  CHECK(
    contains(r.error().message, "fake__extra_tool: Tool extra.tool not found"));
  CHECK(s.status().tools == 8);
}

TEST_CASE("an MCP server that stayed up long enough restarts without the "
          "longer wait",
          "[mcp]") {
  auto cfg = fake_config({});
  cfg.restart_max_ms = 100;
  mcp::server s{cfg, {}};
  REQUIRE(s.wait_ready(clock_type::now() + 10s));
  CHECK_FALSE(call(s, "exit", {{"code", 1}}));
  CHECK(s.status().backoff_ms == 20);
  REQUIRE(
    eventually([&] { return s.status().state == mcp::server_state::ready; }));
  // Up for longer than restart_max_ms: the backoff starts over (else 40).
  std::this_thread::sleep_for(150ms);
  CHECK_FALSE(call(s, "exit", {{"code", 1}}));
  CHECK(s.status().backoff_ms == 20);
}
