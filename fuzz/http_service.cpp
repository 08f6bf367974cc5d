// The daemon's API behind the HTTP server: daemon::service::handle, the
// function every request goes to, with a real journal (SQLite, opened once
// in a temp dir) and a fake engine. Each input is up to eight requests;
// each request is three bytes (method, path, flags), the lines its path
// segment and Idempotency-Key take if the path and the flags ask for them,
// and a body line. Every request must be answered exactly once, with a
// 2xx, 4xx or 5xx status and, for application/json, a JSON body.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "daemon/service.hpp"
#include "store/sqlite_journal.hpp"
#include "guardrail/access.hpp"
#include "support.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

constexpr const char* admin_key = "fuzz-admin-key-0123456789";
constexpr const char* user_key = "fuzz-alice-key-0123456789";

/// Most requests one input makes.
constexpr int max_requests = 8;

/// Tasks submitted before the service and its journal start over (the
/// journal file and the live task table grow with every task).
constexpr uint64_t tasks_per_journal = 20000;

/// A failing fake memory tool answers this.
constexpr const char* memory_failure =
  R"({"error":"principal 'alice' may not write memory","code":"forbidden"})";

// -- the fake engine ----------------------------------------------------------

/// Answers at once and records the tasks it was asked to run.
class fake_backend : public daemon::backend {
public:
  void run(task_request req) override {
    std::lock_guard guard{mutex_};
    running_.insert(req.id);
    last_id_ = req.id;
    ++runs_;
  }

  void cancel(uint64_t id, std::function<void(bool)> done) override {
    bool found = false;
    {
      std::lock_guard guard{mutex_};
      found = running_.count(id) > 0;
      if (found)
        cancelled_.insert(id);
    }
    done(found);
  }

  void memory_call(tool_invocation inv,
                   std::function<void(tool_result)> done) override {
    // The service builds the arguments itself: always an object.
    if (!parse_object(inv.call.arguments, "memory arguments"))
      fuzz::broken("the service sent memory arguments that are no object");
    if (inv.principal.empty())
      fuzz::broken("a memory call without a principal");
    tool_result r{inv.call.id, inv.call.name, !fail_memory, ""};
    if (fail_memory)
      r.output = memory_failure;
    else if (inv.call.name == "memory_recall")
      r.output = R"({"memories":[{"id":1,"text":"the launch is on Friday",)"
                 R"("score":1.5,"origin":"long_term"}]})";
    else
      r.output = R"({"id":7,"stored":true})";
    done(std::move(r));
  }

  void counters(std::function<void(daemon::engine_counters)> done) override {
    daemon::engine_counters c;
    c.restarts["planner"] = 1;
    c.events["task_finished"] = 3;
    c.mailbox_depths["memory"] = 0;
    c.tools["calls"] = 5;
    c.mcp_up["fs"] = 1;
    done(std::move(c));
  }

  std::string not_ready() const override {
    return {};
  }

  std::vector<tool_spec> tools() const override {
    return {tool_spec{"calculator", "Evaluates arithmetic",
                      R"({"type":"object","properties":{"expression":)"
                      R"({"type":"string"}},"required":["expression"]})",
                      true}};
  }

  std::vector<cluster::peer_status> peers() const override {
    cluster::peer_status self;
    self.name = "fuzz";
    self.where = "127.0.0.1:4242";
    self.roles = {"api", "planner"};
    self.state = "self";
    return {self};
  }

  std::map<std::string, size_t> routes() const override {
    return {};
  }

  std::shared_ptr<const agents::catalog> agents() const override {
    // The default agent and one more, resolved once.
    static const auto known = [] {
      std::map<std::string, agents::agent_config> configured;
      configured["helper"].instructions = "You help.";
      auto built = agents::catalog::build(
        configured, {}, [](const std::string&) {
          return std::optional<std::vector<uint32_t>>{{0}};
        });
      if (!built)
        fuzz::broken("the fuzz target's agents do not build");
      return *built;
    }();
    return known;
  }

  /// Takes the tasks still running, and which of them were cancelled.
  std::vector<std::pair<uint64_t, bool>> take_running() {
    std::lock_guard guard{mutex_};
    std::vector<std::pair<uint64_t, bool>> out;
    for (auto id : running_)
      out.emplace_back(id, cancelled_.count(id) > 0);
    running_.clear();
    cancelled_.clear();
    return out;
  }

  uint64_t last_id() const {
    std::lock_guard guard{mutex_};
    return last_id_;
  }

  uint64_t runs() const {
    std::lock_guard guard{mutex_};
    return runs_;
  }

  /// The next memory calls fail (set by the fuzz thread between requests).
  bool fail_memory = false;

private:
  mutable std::mutex mutex_;
  std::set<uint64_t> running_;
  std::set<uint64_t> cancelled_;
  uint64_t last_id_ = 0;
  uint64_t runs_ = 0;
};

// -- the fake connection ------------------------------------------------------

void check_response(const http::response& res) {
  auto kind = res.status / 100;
  if (kind != 2 && kind != 4 && kind != 5)
    fuzz::broken("a status that is not 2xx, 4xx or 5xx");
  if (res.content_type == "application/json" &&
      !parse_json(res.body, "response body"))
    fuzz::broken("an application/json response whose body is not JSON");
}

/// An event stream that checks each event: a known name (or none, for a
/// chat completion's chunks) and data that is a JSON object (or [DONE]).
class fake_stream : public http::event_stream {
public:
  bool send_raw(std::string_view text) override {
    if (closed_)
      return false;
    if (text.size() < 2 || text.substr(text.size() - 2) != "\n\n")
      fuzz::broken("an event that does not end with a blank line");
    std::string_view event;
    std::string data;
    for (size_t pos = 0; pos < text.size() - 1;) {
      auto nl = text.find('\n', pos);
      auto line = text.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.starts_with("event: "))
        event = line.substr(7);
      else if (line.starts_with("data: "))
        data += line.substr(6);
    }
    static const std::set<std::string_view> names = {
      "", "step", "result", "token", "tool_call", "tool_result"};
    if (!names.count(event))
      fuzz::broken("a task stream event of an unknown kind");
    if (data != "[DONE]" && !parse_object(data, "event data"))
      fuzz::broken("a task stream event whose data is not a JSON object");
    return true;
  }

  void close() override {
    closed_ = true;
  }

  bool closed() const override {
    return closed_;
  }

private:
  std::atomic<bool> closed_{false};
};

/// What became of one request, shared by its reply and the fuzz thread.
struct outcome {
  std::mutex mutex;
  std::condition_variable changed;
  int answers = 0;
  bool dropped = false;
};

class fake_reply : public http::reply {
public:
  explicit fake_reply(std::shared_ptr<outcome> out) : out_(std::move(out)) {}

  ~fake_reply() override {
    std::lock_guard guard{out_->mutex};
    if (out_->answers == 0)
      out_->dropped = true;
    out_->changed.notify_all();
  }

  void send(http::response res) override {
    check_response(res);
    answered();
  }

  std::shared_ptr<http::event_stream> open_stream() override {
    answered();
    return std::make_shared<fake_stream>();
  }

private:
  void answered() {
    std::lock_guard guard{out_->mutex};
    if (++out_->answers > 1)
      fuzz::broken("a request answered twice");
    out_->changed.notify_all();
  }

  std::shared_ptr<outcome> out_;
};

// -- the service --------------------------------------------------------------

struct world {
  std::shared_ptr<daemon::service> svc;
  fake_backend* backend = nullptr;
};

world* the_world = nullptr;

engine_config service_config() {
  engine_config cfg;
  cfg.access.principals["ops"] = "admin";
  cfg.access.principals["alice"] = "user";
  auto keys = std::string{"ops:"} + admin_key + ",alice:" + user_key;
  if (!guardrail::add_api_keys(cfg.access, keys))
    fuzz::broken("the fuzz API keys were refused");
  // High enough never to refuse, so the bucket code runs on every request
  // without 429s hiding the endpoints.
  cfg.serve.rate_limit = 1e9;
  cfg.serve.rate_burst = 1000000000;
  // Small: finished tasks soon leave memory and are read from the journal.
  cfg.serve.keep_finished = 16;
  cfg.serve.durable = false;
  return cfg;
}

std::filesystem::path journal_file() {
  return fuzz::temp_dir() / "tasks.db";
}

void open_world() {
  for (auto suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(journal_file().string() + suffix);
  auto j = store::open_sqlite_journal(journal_file(), false);
  if (!j) {
    std::fprintf(stderr, "fuzz: %s\n", j.error().message.c_str());
    std::abort();
  }
  the_world->svc = daemon::service::make(service_config(), std::move(*j));
  auto b = std::make_unique<fake_backend>();
  the_world->backend = b.get();
  the_world->svc->attach(std::move(b));
}

void close_world() {
  if (!the_world->svc)
    return;
  the_world->svc->detach();
  // Flushes the journal: its writer thread runs what is queued, then ends.
  the_world->svc->close();
  the_world->svc.reset();
  the_world->backend = nullptr;
}

/// Ends the tasks the fake engine holds: a step begins and finishes, then
/// the result (cancelled if a cancel reached it).
void finish_tasks(daemon::service& svc, fake_backend& b) {
  tool_call call{"call_1", "calculator", R"({"expression":"17*23+4"})"};
  tool_result res{"call_1", "calculator", true,
                  R"({"expression":"17*23+4","result":395,"text":"395"})"};
  for (auto [id, cancelled] : b.take_running()) {
    svc.on_step_started(id, 0, step_record{{call}, {}});
    step_record step{{call}, {res}};
    svc.on_step(id, 0, step);
    task_result r;
    r.id = id;
    r.status = cancelled ? task_status::cancelled : task_status::completed;
    r.answer = cancelled ? "the task was cancelled" : "17 * 23 + 4 = 395";
    r.error_code = cancelled ? "cancelled" : "";
    r.steps = {step};
    r.memories = {memory_hit{1, "the launch is on Friday", 1.5, "long_term"}};
    r.usage = {40, 9};
    r.provider = "rule_based";
    svc.on_result(r);
  }
}

// -- requests from bytes ------------------------------------------------------

const char* const methods[] = {"GET",  "POST", "DELETE",
                               "HEAD", "PUT",  "OPTIONS"};

/// The path for selector `b`; `in` supplies the fuzzed parts.
std::string path_for(uint8_t b, fuzz::reader& in, uint64_t last_id) {
  auto last = std::to_string(last_id);
  switch (b % 15) {
    case 0:
      return "/health";
    case 1:
      return "/ready";
    case 2:
      return "/metrics";
    case 3:
      return "/v1/tasks";
    case 4:
      return "/v1/tasks/" + last;
    case 5:
      return "/v1/tasks/" + last + "/events";
    case 6:
      return "/v1/tasks/" + std::string{in.line()};
    case 7:
      return "/v1/tasks/" + std::string{in.line()} + "/events";
    case 8:
      return "/v1/memory";
    case 9:
      return "/v1/memory/search";
    case 10:
      return "/v1/tools";
    case 11:
      return "/v1/cluster";
    case 12:
      return "/v1/" + std::string{in.line()};
    case 13:
      return std::string{in.line()};
    default:
      return "/v1/tasks/1";
  }
}

http::request make_request(fuzz::reader& in, fake_backend& b, uint8_t& flags) {
  http::request req;
  req.method = methods[in.byte() % std::size(methods)];
  auto path_byte = in.byte();
  flags = in.byte();
  req.path = path_for(path_byte, in, b.last_id());
  switch (flags & 3) {
    case 0:
      req.headers["authorization"] = std::string{"Bearer "} + admin_key;
      break;
    case 1:
      req.headers["x-api-key"] = user_key;
      break;
    case 2:
      req.headers["authorization"] = "Bearer not-a-key-of-anyone";
      break;
    default:
      break;
  }
  switch ((flags >> 2) & 3) {
    case 0:
      req.headers["content-type"] = "application/json";
      break;
    case 1:
      req.headers["content-type"] = "application/json; charset=utf-8";
      break;
    case 2:
      req.headers["content-type"] = "text/plain";
      break;
    default:
      break;
  }
  if (flags & 0x10)
    req.headers["idempotency-key"] = std::string{in.line()};
  req.body = std::string{in.line()};
  req.remote = "127.0.0.1:5555";
  return req;
}

/// Hands `req` to the service and waits for its answer.
void serve(daemon::service& svc, http::request req) {
  auto out = std::make_shared<outcome>();
  svc.handle(std::move(req), std::make_shared<fake_reply>(out));
  std::unique_lock lock{out->mutex};
  // A submit is answered from the journal's thread after its commit.
  bool ended = out->changed.wait_for(
    lock, 5s, [&] { return out->answers > 0 || out->dropped; });
  if (!ended)
    fuzz::broken("a request not answered within 5 s");
  if (out->answers == 0)
    fuzz::broken("a request dropped unanswered");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Warnings on bad requests would flood the fuzzer's output.
  log::set_level("off");
  fuzz::temp_dir();
  the_world = new world;
  open_world();
  // Registered after temp_dir's: runs first, closing the journal before
  // its directory goes.
  std::atexit([] { close_world(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& w = *the_world;
  if (w.backend->runs() >= tasks_per_journal) {
    close_world();
    open_world();
  }
  fuzz::reader in{data, size};
  for (int i = 0; i < max_requests && !in.empty(); ++i) {
    uint8_t flags = 0;
    auto req = make_request(in, *w.backend, flags);
    w.backend->fail_memory = (flags & 0x20) != 0;
    serve(*w.svc, std::move(req));
    if (flags & 0x40)
      finish_tasks(*w.svc, *w.backend);
  }
  return 0;
}
