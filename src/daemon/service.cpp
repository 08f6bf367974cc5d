#include "daemon/service.hpp"

#include "daemon/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "core/codec.hpp"
#include "core/log.hpp"
#include "core/names.hpp"
#include "daemon/history.hpp"
#include "daemon/openai_compat.hpp"
#include "guardrail/access.hpp"
#include "guardrail/approval.hpp"
#include "memory/tools.hpp"

namespace troupe::daemon {

namespace {

using clock_type = std::chrono::steady_clock;

/// Rows the journal gives back: written by this service, holding values of
/// up to 64 levels (tool outputs, arguments) inside a few of their own.
const parse_limits journal_rows{
  .max_depth = 128, .max_bytes = size_t{1} << 30, .unique_keys = false};

/// Longest Idempotency-Key accepted.
constexpr size_t max_idempotency_key = 255;

/// The token of an `Authorization: Bearer <token>` header ("" if none).
std::string_view bearer_token(const http::request& req) {
  auto auth = req.header("authorization");
  constexpr std::string_view bearer = "Bearer ";
  if (auth.size() > bearer.size() &&
      std::equal(bearer.begin(), bearer.end(), auth.begin(),
                 [](char a, char b) {
                   return std::tolower(static_cast<unsigned char>(a)) ==
                          std::tolower(static_cast<unsigned char>(b));
                 }))
    return auth.substr(bearer.size());
  return {};
}

/// Compares in time that depends on the lengths only.
bool same_secret(std::string_view x, std::string_view y) {
  if (x.size() != y.size())
    return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < x.size(); ++i)
    diff |= static_cast<unsigned char>(x[i] ^ y[i]);
  return diff == 0;
}

http::response json_response(int status, const json& body) {
  return {status, "application/json", dump(body), {}};
}

/// At most `n` bytes of `x` for a message, "…" marking a cut.
std::string cut(std::string_view x, size_t n) {
  if (x.size() <= n)
    return std::string{x};
  return std::string{x.substr(0, n)} + "…";
}

/// Parses a decimal task id from a path segment (1..2^64-1).
std::optional<uint64_t> parse_id(std::string_view s) {
  uint64_t out = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || out == 0)
    return std::nullopt;
  return out;
}

/// The result of a task that ends without running (again): `answer` says
/// why, `code` is its error code.
json unrun_result(const std::string& answer, std::string_view code) {
  return {{"answer", answer},
          {"error_code", code},
          {"notes", json::array()},
          {"remembered", json::array()},
          {"memories", json::array()}};
}

int status_for(std::string_view code) {
  if (code == "forbidden")
    return 403;
  if (code == "invalid_input" || code == "invalid_arguments" ||
      code == "too_large")
    return 400;
  if (code == "role_down" || code == "timeout")
    return 503;
  return 500;
}

} // namespace

service::service(const engine_config& cfg, std::unique_ptr<journal> j)
  : serve_(cfg.serve),
    access_(std::make_shared<guardrail::access_policy>(cfg.access)),
    retention_(cfg.store.retention),
    journal_(std::move(j)), metrics_(std::make_unique<metrics>()) {}

service::~service() = default;

std::shared_ptr<service> service::make(const engine_config& cfg,
                                       std::unique_ptr<journal> j) {
  return std::shared_ptr<service>{new service{cfg, std::move(j)}};
}

service::recovery service::recover() {
  // Its own tasks from an earlier life (this replica's name), and any
  // whose lease expired (a replica that died): taken over, each under a
  // new fence.
  auto claimed = journal_->claim(true, SIZE_MAX);
  if (!claimed)
    log::get()->error(R"("event":"claim_failed","error":{})",
                      json(claimed.error().message).dump());
  auto out = claimed ? take_over(std::move(*claimed)) : recovery{};
  journal_->flush();
  journal_->on_fenced([w = weak_from_this()](uint64_t id) {
    if (auto self = w.lock())
      self->fenced(id);
  });
  // Finished tasks past `store.retention` go, a small batch at a time.
  journal_->keep_retention(retention_);
  // From now on: renew this replica's leases, take over a dead one's
  // tasks, and follow what other replicas commit.
  journal_->keep_leases(
    [w = weak_from_this()](std::vector<journaled_task> tasks) {
      auto self = w.lock();
      if (!self)
        return;
      if (!tasks.empty()) {
        self->metrics_->taken_over(tasks.size());
        auto r = self->take_over(std::move(tasks));
        log::get()->warn(
          R"("event":"tasks_taken_over","resumed":{},"failed":{})", r.resumed,
          r.failed);
      }
      // Also a tick: a run waiting on another replica's run of its thread
      // starts even if that replica's announcement was missed.
      self->advance_threads({});
    },
    [w = weak_from_this()](store::changes c) {
      if (auto self = w.lock())
        self->changed_elsewhere(c);
    });
  return out;
}

service::recovery service::take_over(std::vector<journaled_task> tasks) {
  recovery out;
  std::set<std::string, std::less<>> idempotent;
  for (auto& t : backend_->tools())
    if (t.idempotent)
      idempotent.insert(t.name);
  for (auto& t : tasks) {
    // Rows are in step order; only the last can be a step that began and
    // did not finish.
    std::vector<step_record> done;
    std::vector<std::string> unsafe;
    for (auto& text : t.steps) {
      auto j =
        parse_json(text, "a journal step", journal_rows).value_or(json{});
      if (!j.is_object())
        continue;
      if (!j.value("started", false)) {
        done.push_back(step_from_json(j));
        continue;
      }
      for (auto& c : j.value("calls", json::array()))
        if (auto name = c.value("name", std::string{}); !idempotent.count(name))
          unsafe.push_back(name);
    }
    if (!unsafe.empty()) {
      std::string names;
      for (auto& n : unsafe)
        names += (names.empty() ? "'" : ", '") + n + "'";
      auto result = unrun_result(
        "the daemon stopped during step " + std::to_string(done.size() + 1) +
          ", whose tool calls " + names +
          " may have run; they are not idempotent, so the task was not "
          "resumed (it had " +
          std::to_string(done.size()) + " finished step(s))",
        "interrupted");
      journal_->finish(t.id, "failed", dump(result), {}, t.fence);
      ++out.failed;
      continue;
    }
    if (t.cancel_requested) {
      // Asked to cancel while its replica was gone: it ends here.
      auto result =
        unrun_result("cancelled before it was resumed", "cancelled");
      journal_->finish(t.id, "cancelled", dump(result), {}, t.fence);
      ++out.failed;
      continue;
    }
    t.steps.clear();
    if (t.thread.empty()) {
      start(std::move(t), std::move(done), true);
    } else {
      // Runs of one thread, one after the other, in the order of their
      // turns (wherever the runs before them are).
      auto thread = t.thread;
      {
        std::lock_guard guard{mutex_};
        auto& runs = threads_[thread];
        runs.waiting.push_back({std::move(t), std::move(done), true});
        std::stable_sort(
          runs.waiting.begin(), runs.waiting.end(),
          [](auto& a, auto& b) { return a.meta.turn < b.meta.turn; });
      }
      advance(thread);
    }
    ++out.resumed;
  }
  return out;
}

void service::fenced(uint64_t id) {
  // Another replica took this task over (this one's lease expired: it was
  // stopped, or cut off from the store): it stops here, unrecorded, and
  // its followers are told where it went.
  std::string thread;
  {
    std::lock_guard guard{mutex_};
    auto it = tasks_.find(id);
    if (it == tasks_.end() || it->second.finished)
      return;
    auto& live = it->second;
    thread = live.meta.thread;
    publish(live, "moved",
            dump(json{{"id", id},
                      {"reason", "another replica took the task over (this "
                                 "one's lease on it expired); follow it on "
                                 "any replica"}}));
    for (auto& w : live.watchers)
      w->close();
    live.watchers.clear();
    tasks_.erase(it);
    // Its engine run goes on until the cancel lands: what it still writes
    // or ends with is not this replica's to record.
    moved_.insert(id);
    --active_;
    metrics_->set_active(active_);
    if (active_ == 0)
      idle_.notify_all();
  }
  log::get()->warn(R"("event":"task_fenced","task":{})", id);
  metrics_->fenced();
  if (backend_)
    backend_->cancel(id, [](bool) {});
  if (!thread.empty())
    end_run(thread, id);
}

void service::changed_elsewhere(const store::changes& c) {
  // A resync: some announcements may have been missed; look at
  // everything followed.
  std::vector<uint64_t> ids;
  std::vector<uint64_t> cancels;
  {
    std::lock_guard guard{mutex_};
    if (c.resync) {
      for (auto& [id, w] : remote_watchers_)
        ids.push_back(id);
    } else {
      for (auto id : c.tasks)
        if (remote_watchers_.count(id))
          ids.push_back(id);
    }
    for (auto id : c.cancels)
      if (auto it = tasks_.find(id); it != tasks_.end() && !it->second.finished)
        cancels.push_back(id);
  }
  for (auto id : ids)
    follow_remote(id);
  // Asked of another replica for a task this one runs.
  for (auto id : cancels)
    cancel_here(id, [](bool) {});
  if (c.resync)
    advance_threads({});
  else if (!c.threads.empty())
    advance_threads(c.threads);
}

void service::follow_remote(uint64_t id) {
  auto t = journal_->get(id);
  std::lock_guard guard{mutex_};
  auto it = remote_watchers_.find(id);
  if (it == remote_watchers_.end() || !t)
    return;
  auto& rw = it->second;
  auto event_of = [](const json& j) {
    return j.value("event_id", uint64_t{0});
  };
  std::vector<json> steps;
  for (auto& s : t->steps) {
    auto j = parse_json(s, "a journal step", journal_rows).value_or(json{});
    if (j.is_object() && !j.value("started", false)) {
      auto e = event_of(j);
      if (e > rw.last_event) {
        for (auto& w : rw.streams)
          w->send("step", s, std::to_string(e));
        rw.last_event = e;
      }
    }
    steps.push_back(std::move(j));
  }
  if (t->status != "queued") {
    auto result =
      parse_json(t->result, "a journal result", journal_rows).value_or(json{});
    auto e = std::max(event_of(result), rw.last_event + 1);
    for (auto& w : rw.streams) {
      w->send("result", dump(task_json(*t, steps, result, true)),
              std::to_string(e));
      w->close();
    }
    remote_watchers_.erase(it);
  } else {
    auto& ws = rw.streams;
    ws.erase(
      std::remove_if(ws.begin(), ws.end(), [](auto& w) { return w->closed(); }),
      ws.end());
    if (ws.empty())
      remote_watchers_.erase(it);
  }
  count_followers();
}

void service::count_followers() {
  size_t n = 0;
  for (auto& [_, f] : remote_watchers_)
    n += f.streams.size();
  metrics_->set_followed_elsewhere(n);
}

void service::advance_threads(const std::vector<std::string>& threads) {
  std::vector<std::string> names = threads;
  if (names.empty()) {
    std::lock_guard guard{mutex_};
    for (auto& [name, runs] : threads_)
      if (runs.running == 0 && !runs.waiting.empty())
        names.push_back(name);
  }
  for (auto& n : names)
    advance(n);
}

void service::attach(std::unique_ptr<backend> b) {
  backend_ = std::move(b);
}

void service::detach() {
  // No task is taken over (or started after another replica's run) once
  // the engine is gone.
  if (journal_)
    journal_->stop_leases();
  backend_.reset();
}

void service::close() {
  if (journal_) {
    journal_->stop_leases();
    journal_->flush();
    // What is left unfinished is another replica's to take at once.
    journal_->release();
  }
  journal_.reset();
}

void service::set_server(const http::server* srv) {
  server_ = srv;
}

void service::reconfigure(const engine_config& cfg) {
  std::lock_guard guard{mutex_};
  access_ = std::make_shared<guardrail::access_policy>(cfg.access);
  serve_.rate_limit = cfg.serve.rate_limit;
  serve_.rate_burst = cfg.serve.rate_burst;
}

size_t service::active() const {
  std::lock_guard guard{mutex_};
  return active_;
}

void service::begin_drain() {
  draining_ = true;
  // Tasks of a dead replica go to one that is not stopping.
  if (journal_)
    journal_->set_claiming(false);
}

void service::stop_journaling_ends() {
  journal_ends_ = false;
}

bool service::wait_idle(clock_type::time_point deadline) {
  std::unique_lock lock{mutex_};
  idle_.wait_until(lock, deadline, [&] { return active_ == 0 || drain_cut_; });
  return active_ == 0;
}

void service::cut_drain() {
  {
    std::lock_guard lock{mutex_};
    drain_cut_ = true;
  }
  idle_.notify_all();
}

// -- helpers ------------------------------------------------------------------

void service::reply(const std::shared_ptr<http::reply>& rep,
                    http::response res) {
  metrics_->response(res.status);
  rep->send(std::move(res));
}

void service::fail(const std::shared_ptr<http::reply>& rep, int status,
                   std::string_view code, std::string_view message) {
  reply(rep, http::error_response(status, code, message));
}

std::optional<std::string>
service::authenticate(const http::request& req,
                      const std::shared_ptr<http::reply>& rep) {
  std::string_view key = req.header("x-api-key");
  if (key.empty())
    key = bearer_token(req);
  auto unauthorized = [&](std::string_view why) {
    auto res = http::error_response(401, "unauthorized", why);
    res.headers.emplace_back("WWW-Authenticate", "Bearer");
    reply(rep, std::move(res));
    return std::nullopt;
  };
  if (key.empty())
    return unauthorized("an API key is required (header 'Authorization: "
                        "Bearer <key>' or 'X-API-Key: <key>')");
  std::shared_ptr<const guardrail::access_policy> policy;
  {
    std::lock_guard guard{mutex_};
    policy = access_;
  }
  auto principal = policy->principal_for_key(key);
  if (!principal)
    return unauthorized("the API key is not valid");
  return principal;
}

bool service::admit(const std::string& principal,
                    const std::shared_ptr<http::reply>& rep) {
  double wait_s = 0;
  {
    std::lock_guard guard{mutex_};
    if (serve_.rate_limit <= 0)
      return true;
    auto now = clock_type::now();
    auto [it, fresh] = buckets_.try_emplace(principal);
    auto& b = it->second;
    if (fresh) {
      b.tokens = serve_.rate_burst;
      b.at = now;
    }
    b.tokens = std::min<double>(
      serve_.rate_burst,
      b.tokens +
        std::chrono::duration<double>(now - b.at).count() * serve_.rate_limit);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    wait_s = (1 - b.tokens) / serve_.rate_limit;
  }
  auto res = http::error_response(429, "rate_limited",
                                  "principal '" + principal +
                                    "' is over its rate limit of " +
                                    dump(serve_.rate_limit) + " requests/s");
  res.headers.emplace_back(
    "Retry-After", std::to_string(static_cast<int64_t>(std::ceil(wait_s))));
  reply(rep, std::move(res));
  return false;
}

std::optional<json>
service::json_body(const http::request& req,
                   const std::shared_ptr<http::reply>& rep) {
  auto type = req.header("content-type");
  auto media = type.substr(0, type.find(';'));
  while (!media.empty() && media.back() == ' ')
    media.remove_suffix(1);
  if (media != "application/json") {
    fail(rep, 415, "unsupported_media_type",
         "the body must be application/json, got '" + std::string{type} + "'");
    return std::nullopt;
  }
  auto parsed = parse_object(
    req.body, "request body",
    {.max_depth = serve_.max_json_depth, .max_bytes = serve_.max_body_bytes});
  if (!parsed) {
    fail(rep, 400, "invalid_json", parsed.error().message);
    return std::nullopt;
  }
  return std::move(*parsed);
}

// -- routing ------------------------------------------------------------------

const std::vector<service::route>& service::routes() {
  static const std::vector<route> table = {
    {"GET", "/health"},
    {"HEAD", "/health"},
    {"GET", "/ready"},
    {"HEAD", "/ready"},
    {"GET", "/metrics"},
    {"GET", "/openapi.json"},
    {"POST", "/v1/tasks"},
    {"GET", "/v1/tasks/{id}"},
    {"DELETE", "/v1/tasks/{id}"},
    {"GET", "/v1/tasks/{id}/events"},
    {"GET", "/v1/tools"},
    {"GET", "/v1/cluster"},
    {"POST", "/v1/memory"},
    {"POST", "/v1/memory/search"},
    {"POST", "/v1/chat/completions"},
    {"GET", "/v1/models"},
    {"POST", "/v1/threads"},
    {"GET", "/v1/threads/{id}"},
    {"DELETE", "/v1/threads/{id}"},
    {"POST", "/v1/threads/{id}/runs"},
  };
  return table;
}

namespace {

/// True if `path` fits `pattern` segment by segment ("{…}": any one
/// non-empty segment).
bool fits(std::string_view pattern, std::string_view path) {
  while (!pattern.empty() && !path.empty()) {
    auto ps = pattern.find('/', 1);
    auto qs = path.find('/', 1);
    auto p = pattern.substr(0, ps);
    auto q = path.substr(0, qs);
    bool any = p.size() > 2 && p[1] == '{' && p.back() == '}';
    if (any ? q.size() < 2 : p != q)
      return false;
    pattern = ps == std::string_view::npos ? "" : pattern.substr(ps);
    path = qs == std::string_view::npos ? "" : path.substr(qs);
  }
  return pattern.empty() && path.empty();
}

} // namespace

bool service::routed(const http::request& req,
                     const std::shared_ptr<http::reply>& rep) {
  // The route table decides what exists: 404 off it, 405 (with the
  // methods there are) for a known path.
  std::string allow;
  bool known = false;
  for (auto& r : routes())
    if (fits(r.pattern, req.path)) {
      known = known || r.method == req.method;
      allow += (allow.empty() ? "" : ", ") + r.method;
    }
  if (known)
    return true;
  if (allow.empty()) {
    fail(rep, 404, "not_found", "no such endpoint: " + req.path);
    return false;
  }
  auto res = http::error_response(
    405, "method_not_allowed", req.method + " is not allowed on " + req.path);
  res.headers.emplace_back("Allow", allow);
  reply(rep, std::move(res));
  return false;
}

void service::handle(http::request req, std::shared_ptr<http::reply> rep) {
  auto& path = req.path;
  // /v1/ needs a key first (so an unknown /v1/ path is 401 without one);
  // the probes, metrics and the document are open.
  bool api = path.rfind("/v1/", 0) == 0;
  if (!api && !routed(req, rep))
    return;
  if (path == "/health")
    return reply(rep, json_response(200, {{"status", "ok"}}));
  if (path == "/ready")
    return serve_ready(std::move(rep));
  if (path == "/metrics") {
    if (!metrics_token_.empty() &&
        !same_secret(bearer_token(req), metrics_token_)) {
      auto res = http::error_response(
        401, "unauthorized",
        "/metrics needs the metrics token (header 'Authorization: Bearer "
        "<token>'; serve.metrics_token_env names its variable)");
      res.headers.emplace_back("WWW-Authenticate", "Bearer");
      return reply(rep, std::move(res));
    }
    return serve_metrics(std::move(rep));
  }
  if (path == "/openapi.json") {
    http::response res{200, "application/json", std::string{openapi()}, {}};
    return reply(rep, std::move(res));
  }
  auto principal = authenticate(req, rep);
  if (!principal || !admit(*principal, rep) || !routed(req, rep))
    return;
  if (path == "/v1/tasks")
    return submit(req, *principal, std::move(rep));
  if (path == "/v1/cluster") {
    if (!backend_)
      return fail(rep, 503, "not_ready", "the engine is starting");
    json nodes = json::array();
    for (auto& n : backend_->peers())
      nodes.push_back({{"name", n.name},
                       {"where", n.where},
                       {"roles", n.roles},
                       {"state", n.state},
                       {"load", n.load},
                       {"rtt_us", n.rtt_us},
                       {"sent", n.sent},
                       {"received", n.received},
                       {"pending", n.pending},
                       {"lost", n.lost},
                       {"rejoined", n.rejoined},
                       {"last_error", n.last_error}});
    return reply(rep, json_response(200, {{"nodes", nodes}}));
  }
  if (path == "/v1/tools") {
    if (!backend_)
      return fail(rep, 503, "not_ready", "the engine is starting");
    return reply(rep,
                 json_response(200, {{"tools", to_json(backend_->tools())}}));
  }
  if (path == "/v1/chat/completions")
    return chat_completions(req, *principal, std::move(rep));
  if (path == "/v1/models") {
    auto known = backend_ ? backend_->agents() : nullptr;
    if (!known)
      return fail(rep, 503, "not_ready", "the engine is starting");
    return reply(rep, json_response(200, models_json(*known)));
  }
  if (path == "/v1/threads" || path.rfind("/v1/threads/", 0) == 0)
    return threads_route(req, *principal, std::move(rep));
  if (path == "/v1/memory" || path == "/v1/memory/search")
    return memory(req, *principal, path == "/v1/memory/search", std::move(rep));
  constexpr std::string_view prefix = "/v1/tasks/";
  if (path.rfind(prefix, 0) == 0) {
    std::string_view rest{path};
    rest.remove_prefix(prefix.size());
    // The table let only /v1/tasks/{id} and /v1/tasks/{id}/events by.
    bool events = false;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
      events = true;
      rest = rest.substr(0, slash);
    }
    auto id = parse_id(rest);
    if (!id)
      return fail(rep, 400, "invalid_input",
                  "the task id in the path must be a number from 1 to "
                  "18446744073709551615, got '" +
                    cut(rest, 40) + "'");
    if (events) {
      // A client that reconnects says what it saw last.
      uint64_t after = 0;
      if (auto last = req.header("last-event-id"); !last.empty()) {
        auto parsed = parse_id(last);
        if (!parsed)
          return fail(rep, 400, "invalid_input",
                      "Last-Event-ID must be an event id this stream sent "
                      "(a number), got '" +
                        cut(last, 40) + "'");
        after = *parsed;
      }
      return stream_task(*id, *principal, after, std::move(rep));
    }
    if (req.method == "GET")
      return get_task(*id, *principal, std::move(rep));
    return cancel_task(*id, *principal, std::move(rep));
  }
  fail(rep, 404, "not_found", "no such endpoint: " + path);
}

void service::serve_ready(std::shared_ptr<http::reply> rep) {
  std::string why;
  if (draining_)
    why = "draining: the daemon is shutting down";
  else if (!backend_)
    why = "the engine is starting";
  else
    why = backend_->not_ready();
  if (why.empty() && store_pool_)
    if (auto st = store_pool_->stats(); !st.up)
      why = "the store is unreachable: " + st.reason;
  if (why.empty())
    return reply(rep, json_response(200, {{"ready", true}}));
  reply(rep, json_response(503, {{"ready", false}, {"reason", why}}));
}

// -- tasks --------------------------------------------------------------------

json service::task_json(const journaled_task& meta,
                        const std::vector<json>& steps, const json& result,
                        bool finished, const json& under_way) {
  json out{{"id", meta.id},
           {"status", finished ? meta.status : std::string{"running"}},
           {"agent", meta.agent},
           {"session", meta.session},
           {"created_ms", meta.created_ms},
           {"steps", steps}};
  out["result"] = finished ? result : json(nullptr);
  out["step_under_way"] = finished ? json(nullptr) : under_way;
  if (finished)
    out["finished_ms"] = meta.updated_ms;
  return out;
}

bool service::taking_work(const std::shared_ptr<http::reply>& rep) {
  if (draining_) {
    fail(rep, 503, "draining",
         "the daemon is shutting down and takes no new tasks");
    return false;
  }
  if (!backend_) {
    fail(rep, 503, "not_ready", "the engine is starting");
    return false;
  }
  return true;
}

void service::submit(const http::request& req, const std::string& principal,
                     std::shared_ptr<http::reply> rep) {
  if (!taking_work(rep))
    return;
  auto body = json_body(req, rep);
  if (!body)
    return;
  journaled_task t;
  t.principal = principal;
  t.agent = "default";
  t.session = "default";
  for (auto& [key, value] : body->items()) {
    if (key != "input" && key != "agent" && key != "session")
      return fail(rep, 400, "invalid_input",
                  "unknown field '" + key +
                    "' (fields: input, agent, session)");
    if (!value.is_string())
      return fail(rep, 400, "invalid_input",
                  "'" + key + "' must be a string, got " + dump(value));
  }
  if (!body->contains("input"))
    return fail(rep, 400, "invalid_input", "'input' is required");
  t.input = (*body)["input"].get<std::string>();
  if (body->contains("agent"))
    t.agent = (*body)["agent"].get<std::string>();
  if (body->contains("session"))
    t.session = (*body)["session"].get<std::string>();
  if (!valid_name(t.agent))
    return fail(rep, 400, "invalid_input",
                "'agent' must be 1-64 characters of A-Z a-z 0-9 _ . -");
  if (auto known = backend_->agents(); known && !known->find(t.agent))
    return fail(rep, 400, "unknown_agent",
                agents::unknown_agent(t.agent, *known));
  if (!valid_name(t.session))
    return fail(rep, 400, "invalid_input",
                "'session' must be 1-64 characters of A-Z a-z 0-9 _ . -");
  t.idempotency_key = std::string{req.header("idempotency-key")};
  if (t.idempotency_key.size() > max_idempotency_key)
    return fail(rep, 400, "invalid_input",
                "the Idempotency-Key header is longer than " +
                  std::to_string(max_idempotency_key) + " characters");
  t.request_hash = guardrail::api_key_digest(dump(*body));
  auto replayed = [this, rep](const journaled_task& prior,
                              const std::string& hash) {
    if (prior.request_hash != hash)
      return fail(rep, 422, "idempotency_key_reused",
                  "this Idempotency-Key was used for a different request "
                  "(task " +
                    std::to_string(prior.id) + ")");
    auto res = json_response(
      200, {{"id", prior.id},
            {"status", prior.status == "queued" ? "running" : prior.status},
            {"replayed", true}});
    res.headers.emplace_back("Location",
                             "/v1/tasks/" + std::to_string(prior.id));
    reply(rep, std::move(res));
  };
  if (!t.idempotency_key.empty())
    if (auto prior = journal_->find_idempotent(principal, t.idempotency_key))
      return replayed(*prior, t.request_hash);
  t.id = journal_->next_id();
  if (t.id == 0)
    return fail(rep, 503, "journal_unavailable",
                "the store cannot give a task id now (it is unreachable)");
  t.created_ms = now_ms();
  t.owner = journal_->lease().owner;
  t.fence = 1;
  auto self = shared_from_this();
  journal_->accept(t, [self, t, rep, replayed](result<bool> ok) mutable {
    if (!ok) {
      // The same key, sent twice at once: the first one journaled wins.
      if (!t.idempotency_key.empty())
        if (auto prior =
              self->journal_->find_idempotent(t.principal, t.idempotency_key))
          return replayed(*prior, t.request_hash);
      return self->fail(rep, 503, "journal_unavailable", ok.error().message);
    }
    auto id = t.id;
    self->start(std::move(t));
    auto res = json_response(202, {{"id", id}, {"status", "running"}});
    res.headers.emplace_back("Location", "/v1/tasks/" + std::to_string(id));
    self->reply(rep, std::move(res));
  });
}

void service::start(journaled_task meta, std::vector<step_record> done,
                    bool resumed, std::vector<chat_message> history,
                    std::optional<task_hooks> hooks) {
  task_request req;
  req.resumed = resumed;
  req.resume = std::move(done);
  req.id = meta.id;
  req.principal = meta.principal;
  req.agent = meta.agent;
  req.session = meta.session;
  req.text = meta.input;
  auto thread = meta.thread.empty() ? std::nullopt : std::optional{meta};
  {
    // Live from here on: its events can be followed, it can be cancelled,
    // and a drain waits for it.
    std::lock_guard guard{mutex_};
    auto& live = tasks_[meta.id];
    live.meta = std::move(meta);
    if (hooks) {
      live.journaled = false;
      live.hooks = std::move(*hooks);
    }
    for (size_t i = 0; i < req.resume.size(); ++i) {
      auto j = to_json(req.resume[i]);
      j["index"] = i;
      live.steps.push_back(std::move(j));
    }
    live.preparing = thread.has_value();
    if (auto p = pending_watchers_.find(live.meta.id);
        p != pending_watchers_.end()) {
      for (auto& w : p->second)
        live.watchers.push_back(std::move(w));
      pending_watchers_.erase(p);
    }
    // Followed here while another replica ran it, taken over now: its
    // followers get the rest from this one.
    if (auto r = remote_watchers_.find(live.meta.id);
        r != remote_watchers_.end()) {
      for (auto& w : r->second.streams)
        live.watchers.push_back(std::move(w));
      remote_watchers_.erase(r);
      count_followers();
    }
    live.started = clock_type::now();
    ++active_;
    metrics_->set_active(active_);
  }
  if (!thread) {
    req.history = std::move(history);
    return launch(std::move(req));
  }
  auto self = shared_from_this();
  thread_history(*thread, [self, req = std::move(req)](
                            std::vector<chat_message> history) mutable {
    req.history = std::move(history);
    self->launch(std::move(req));
  });
}

void service::launch(task_request req) {
  {
    std::lock_guard guard{mutex_};
    auto it = tasks_.find(req.id);
    // Cancelled while it was being prepared: it has ended already.
    if (it == tasks_.end() || it->second.cancel_requested)
      return;
    it->second.preparing = false;
  }
  backend_->run(std::move(req));
}

void service::on_step_started(uint64_t id, uint64_t index,
                              const step_record& step) {
  // Journaled so that a restart knows a step was under way (its calls may
  // have run); the finished step replaces this row.
  auto j = to_json(step);
  j["index"] = index;
  j["started"] = true;
  auto text = dump(j);
  {
    std::lock_guard guard{mutex_};
    if (auto it = tasks_.find(id); it != tasks_.end() && !it->second.finished)
      for (auto& call : step.calls)
        publish(it->second, "tool_call",
                dump(json{{"step", index},
                          {"id", call.id},
                          {"name", call.name},
                          {"arguments", call.arguments}}));
  }
  uint64_t fence = 0;
  {
    std::lock_guard guard{mutex_};
    auto it = tasks_.find(id);
    if ((it != tasks_.end() && !it->second.journaled) || moved_.count(id))
      return;
    if (it != tasks_.end())
      fence = it->second.meta.fence;
  }
  auto self = shared_from_this();
  journal_->step(
    id, index, std::move(text),
    [self, id, j = std::move(j)] {
      std::lock_guard guard{self->mutex_};
      if (auto it = self->tasks_.find(id);
          it != self->tasks_.end() && !it->second.finished)
        it->second.under_way = j;
    },
    fence);
}

uint64_t service::publish(live_task& live, std::string_view name,
                          std::string_view data, uint64_t id) {
  // Ids grow within a task and past a restart: a microsecond clock, or
  // one more than the last.
  if (id == 0)
    id = std::max<uint64_t>(live.last_event + 1,
                            static_cast<uint64_t>(now_ms()) * 1000);
  live.last_event = id;
  auto text = http::sse_format(name, data, std::to_string(id));
  auto& ws = live.watchers;
  for (auto& w : ws)
    w->send_raw(text);
  ws.erase(
    std::remove_if(ws.begin(), ws.end(), [](auto& w) { return w->closed(); }),
    ws.end());
  live.recent.emplace_back(id, std::move(text));
  if (live.recent.size() > event_buffer)
    live.recent.pop_front();
  return id;
}

void service::on_token(uint64_t id, std::string delta) {
  std::lock_guard guard{mutex_};
  auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second.finished)
    return;
  if (it->second.hooks.token)
    it->second.hooks.token(delta);
  // The hottest event: its data built as one JSON string, not an object.
  std::string data = "{\"delta\":";
  data +=
    json(std::move(delta)).dump(-1, ' ', false, json::error_handler_t::replace);
  data += '}';
  publish(it->second, "token", data);
}

void service::on_step(uint64_t id, uint64_t index, const step_record& step) {
  auto j = to_json(step);
  j["index"] = index;
  std::string text;
  bool journaled = true;
  uint64_t fence = 0;
  {
    std::lock_guard guard{mutex_};
    if (moved_.count(id))
      return;
    auto it = tasks_.find(id);
    if (it != tasks_.end()) {
      auto& live = it->second;
      journaled = live.journaled;
      fence = live.meta.fence;
      for (auto& r : step.results)
        publish(live, "tool_result",
                dump(json{{"step", index},
                          {"id", r.call_id},
                          {"name", r.name},
                          {"ok", r.ok},
                          {"output", r.output}}));
      // The step's event id goes to the journal with it: a client that
      // reconnects after the buffer gets the steps it missed.
      auto event = std::max<uint64_t>(live.last_event + 1,
                                      static_cast<uint64_t>(now_ms()) * 1000);
      j["event_id"] = event;
      text = dump(j);
      publish(live, "step", text, event);
      live.steps.push_back(j);
      live.under_way = nullptr;
    } else {
      text = dump(j);
    }
  }
  if (journaled)
    journal_->step(id, index, std::move(text), {}, fence);
}

void service::on_result(const task_result& r) {
  // The steps went out (and to the journal) as they finished.
  auto result = outcome_json(r);
  std::string agent;
  std::string thread;
  std::vector<std::string> turn;
  std::function<void(const task_result&)> end_hook;
  bool journaled = true;
  double seconds = 0;
  uint64_t fence = 0;
  {
    std::lock_guard guard{mutex_};
    if (moved_.erase(r.id))
      return;
    auto it = tasks_.find(r.id);
    if (it != tasks_.end()) {
      fence = it->second.meta.fence;
      // The result's event id, journaled with it.
      result["event_id"] = std::max<uint64_t>(
        it->second.last_event + 1, static_cast<uint64_t>(now_ms()) * 1000);
      agent = it->second.meta.agent;
      thread = it->second.meta.thread;
      journaled = it->second.journaled;
      end_hook = std::move(it->second.hooks.end);
      it->second.hooks = {};
      // A run that completed adds its turn to the thread (one that failed
      // adds nothing: the next run starts from the turns before it).
      if (!thread.empty() && r.status == task_status::completed)
        for (auto& m : turn_of(it->second.meta.input, r))
          turn.push_back(dump(message_json(m, r.id)));
      seconds =
        std::chrono::duration<double>(clock_type::now() - it->second.started)
          .count();
    }
  }
  auto status = std::string{to_string(r.status)};
  metrics_->task_ended(r, agent, seconds);
  // Visible once durable: a client never sees an end the journal lacks.
  auto self = shared_from_this();
  // One end time, for this replica's view and the journal's.
  auto ended = now_ms();
  auto publish = [self, id = r.id, status, result, ended] {
    std::lock_guard guard{self->mutex_};
    auto it = self->tasks_.find(id);
    if (it == self->tasks_.end())
      return;
    auto& live = it->second;
    live.finished = true;
    live.meta.status = status;
    live.meta.updated_ms = ended;
    live.result = result;
    auto text = dump(task_json(live.meta, live.steps, live.result, true));
    auto event = result.value("event_id", uint64_t{0});
    self->publish(live, "result", text, std::max(event, live.last_event + 1));
    for (auto& w : live.watchers)
      w->close();
    live.watchers.clear();
    self->finished_order_.push_back(id);
    --self->active_;
    self->metrics_->set_active(self->active_);
    self->evict_finished();
    if (self->active_ == 0)
      self->idle_.notify_all();
  };
  // The thread is free before the result goes out: a client that starts
  // the next turn as soon as it has the result is not told thread_busy.
  auto then = [self, publish, thread, id = r.id] {
    if (!thread.empty())
      self->end_run(thread, id);
    publish();
  };
  if (end_hook) {
    // The caller waiting on it (not journaled): told with the result.
    publish();
    end_hook(r);
  } else if (!journal_ends_ || !journaled)
    publish();
  else if (thread.empty())
    journal_->finish(r.id, status, dump(result), publish, fence, ended);
  else
    journal_->finish_turn(r.id, status, dump(result), thread, std::move(turn),
                          then, fence, ended);
}

void service::evict_finished() {
  while (finished_order_.size() > serve_.keep_finished) {
    tasks_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
}

void service::get_task(uint64_t id, const std::string& principal,
                       std::shared_ptr<http::reply> rep) {
  auto not_found = [&] {
    fail(rep, 404, "not_found", "no task " + std::to_string(id));
  };
  {
    std::lock_guard guard{mutex_};
    auto it = tasks_.find(id);
    if (it != tasks_.end()) {
      auto& live = it->second;
      if (live.meta.principal != principal)
        return not_found();
      auto body = task_json(live.meta, live.steps, live.result, live.finished,
                            live.under_way);
      // Reply outside the lock? The reply only queues the bytes.
      return reply(rep, json_response(200, body));
    }
  }
  auto t = journal_->get(id);
  if (!t || t->principal != principal)
    return not_found();
  std::vector<json> steps;
  for (auto& s : t->steps)
    steps.push_back(
      parse_json(s, "a journal step", journal_rows).value_or(json{}));
  auto result = t->result.empty()
                  ? json(nullptr)
                  : parse_json(t->result, "a journal result", journal_rows)
                      .value_or(json{});
  reply(rep, json_response(
               200, task_json(*t, steps, result, t->status != "queued")));
}

void service::stream_task(uint64_t id, const std::string& principal,
                          uint64_t after, std::shared_ptr<http::reply> rep) {
  auto event_of = [](const json& j) {
    return j.value("event_id", uint64_t{0});
  };
  std::unique_lock lock{mutex_};
  auto it = tasks_.find(id);
  if (it != tasks_.end() && it->second.meta.principal == principal) {
    auto& live = it->second;
    metrics_->response(200);
    auto stream = rep->open_stream();
    // Steps older than the buffer, then the buffer: each event once.
    auto oldest = live.recent.empty() ? UINT64_MAX : live.recent.front().first;
    for (auto& s : live.steps)
      if (auto e = event_of(s); e > after && e < oldest)
        stream->send("step", dump(s), std::to_string(e));
    for (auto& [e, text] : live.recent)
      if (e > after)
        stream->send_raw(text);
    if (live.finished)
      stream->close();
    else
      live.watchers.push_back(std::move(stream));
    return;
  }
  // A run queued behind its thread's: its events come once it starts.
  for (auto& [thread, runs] : threads_)
    for (auto& w : runs.waiting)
      if (w.meta.id == id && w.meta.principal == principal) {
        metrics_->response(200);
        pending_watchers_[id].push_back(rep->open_stream());
        return;
      }
  lock.unlock();
  auto t = journal_->get(id);
  if (!t || t->principal != principal)
    return fail(rep, 404, "not_found", "no task " + std::to_string(id));
  metrics_->response(200);
  auto stream = rep->open_stream();
  std::vector<json> steps;
  for (auto& s : t->steps) {
    auto j = parse_json(s, "a journal step", journal_rows).value_or(json{});
    if (auto e = event_of(j); after == 0 || e > after)
      stream->send("step", s, e > 0 ? std::to_string(e) : std::string{});
    steps.push_back(std::move(j));
  }
  if (t->status != "queued") {
    auto result =
      parse_json(t->result, "a journal result", journal_rows).value_or(json{});
    if (auto e = event_of(result); after == 0 || e > after)
      stream->send("result", dump(task_json(*t, steps, result, true)),
                   e > 0 ? std::to_string(e) : std::string{});
    return stream->close();
  }
  // Running on another replica (or waiting to be taken over): followed
  // through what it commits, step by step, to its end (its tokens stay
  // on the replica that runs it).
  uint64_t last = after;
  for (auto& j : steps)
    if (j.is_object() && !j.value("started", false))
      last = std::max(last, event_of(j));
  {
    std::lock_guard guard{mutex_};
    auto& rw = remote_watchers_[id];
    rw.last_event = std::max(rw.last_event, last);
    rw.streams.push_back(std::move(stream));
    count_followers();
  }
  // It may have ended between the read and now.
  follow_remote(id);
}

void service::cancel_task(uint64_t id, const std::string& principal,
                          std::shared_ptr<http::reply> rep) {
  auto self = shared_from_this();
  auto answer = [self, id, rep](bool found) {
    if (found)
      return self->reply(
        rep, json_response(202, {{"id", id}, {"status", "cancelling"}}));
    self->fail(rep, 409, "already_finished",
               "task " + std::to_string(id) +
                 " ended before it could be cancelled");
  };
  std::optional<waiting_run> unstarted;
  bool elsewhere = false;
  {
    std::lock_guard guard{mutex_};
    if (auto it = tasks_.find(id); it != tasks_.end()) {
      if (it->second.meta.principal != principal)
        return fail(rep, 404, "not_found", "no task " + std::to_string(id));
      if (it->second.finished)
        return fail(rep, 409, "already_finished",
                    "task " + std::to_string(id) +
                      " already ended: " + it->second.meta.status);
      // Runs here: cancelled here (below, outside the lock).
    } else {
      // A run queued behind its thread's run here: it never starts.
      for (auto& [thread, runs] : threads_)
        for (auto w = runs.waiting.begin(); w != runs.waiting.end(); ++w)
          if (w->meta.id == id && w->meta.principal == principal) {
            unstarted = std::move(*w);
            runs.waiting.erase(w);
            break;
          }
      elsewhere = !unstarted;
    }
  }
  if (elsewhere) {
    // Not here: another replica's, or ended. Asked of the store outside
    // the lock (a round trip to the database).
    auto t = journal_->get(id);
    if (!t || t->principal != principal)
      return fail(rep, 404, "not_found", "no task " + std::to_string(id));
    if (t->status != "queued")
      return fail(rep, 409, "already_finished",
                  "task " + std::to_string(id) + " already ended: " + t->status);
    // Whichever replica runs it (or takes it over) cancels it.
    auto asked = journal_->request_cancel(id);
    if (!asked)
      return fail(rep, 503, "journal_unavailable", asked.error().message);
    return answer(*asked);
  }
  if (unstarted) {
    reply(rep, json_response(202, {{"id", id}, {"status", "cancelling"}}));
    auto result = unrun_result("cancelled before it started", "cancelled");
    // With its stream, if one waits for it.
    std::vector<std::shared_ptr<http::event_stream>> streams;
    {
      std::lock_guard guard{mutex_};
      if (auto p = pending_watchers_.find(id); p != pending_watchers_.end()) {
        streams = std::move(p->second);
        pending_watchers_.erase(p);
      }
    }
    auto meta = unstarted->meta;
    journal_->finish(
      id, "cancelled", dump(result),
      [self, meta, result, streams] {
        auto done = meta;
        done.status = "cancelled";
        auto text = dump(task_json(done, {}, result, true));
        for (auto& w : streams) {
          w->send("result", text);
          w->close();
        }
        // The run after it in its thread may start.
        self->advance(meta.thread);
      },
      meta.fence);
    return;
  }
  cancel_here(id, answer);
}

void service::cancel_here(uint64_t id, std::function<void(bool)> done) {
  bool preparing = false;
  {
    std::lock_guard guard{mutex_};
    auto it = tasks_.find(id);
    if (it == tasks_.end() || it->second.finished)
      return done(false);
    if (it->second.preparing && !it->second.cancel_requested) {
      // Not with the engine yet (its history is being made): it ends now,
      // and never starts.
      it->second.cancel_requested = true;
      preparing = true;
    }
  }
  if (preparing) {
    done(true);
    task_result r;
    r.id = id;
    r.status = task_status::cancelled;
    r.answer = "cancelled before it started";
    r.error_code = to_string(errc::cancelled);
    return on_result(r);
  }
  backend_->cancel(id, std::move(done));
}

// -- memory -------------------------------------------------------------------

void service::memory(const http::request& req, const std::string& principal,
                     bool search, std::shared_ptr<http::reply> rep) {
  if (!backend_)
    return fail(rep, 503, "not_ready", "the engine is starting");
  auto body = json_body(req, rep);
  if (!body)
    return;
  std::string agent = "default";
  json args = json::object();
  for (auto& [key, value] : body->items()) {
    if (key == "agent") {
      if (!value.is_string() || !valid_name(value.get<std::string>()))
        return fail(rep, 400, "invalid_input",
                    "'agent' must be 1-64 characters of A-Z a-z 0-9 _ . -");
      agent = value.get<std::string>();
    } else if (search ? (key == "query" || key == "limit") : key == "text") {
      args[key] = value;
    } else {
      return fail(rep, 400, "invalid_input",
                  "unknown field '" + key + "' (fields: " +
                    (search ? "query, limit, agent" : "text, agent") + ")");
    }
  }
  tool_invocation inv;
  inv.call.id = "api-" + std::to_string(next_call_.fetch_add(1));
  inv.call.name = search ? "memory_recall" : "memory_store";
  inv.call.arguments = dump(args);
  inv.session = "api";
  inv.principal = principal;
  inv.agent = agent;
  auto self = shared_from_this();
  backend_->memory_call(std::move(inv), [self, rep, search](tool_result r) {
    auto out = parse_json(r.output, "a memory result").value_or(json{});
    if (!r.ok) {
      auto code =
        out.is_object() && out.contains("code") && out["code"].is_string()
          ? out["code"].get<std::string>()
          : std::string{"internal"};
      auto message =
        out.is_object() && out.contains("error") && out["error"].is_string()
          ? out["error"].get<std::string>()
          : r.output;
      return self->fail(rep, status_for(code), code, message);
    }
    self->reply(rep, json_response(search ? 200 : 201, out));
  });
}

// -- metrics ------------------------------------------------------------------

void service::serve_metrics(std::shared_ptr<http::reply> rep) {
  auto self = shared_from_this();
  auto render = [self, rep](engine_counters c) {
    auto& m = *self->metrics_;
    std::optional<store::pg_pool_stats> pool;
    if (self->store_pool_)
      pool = self->store_pool_->stats();
    m.set_pruned(self->journal_->pruned());
    auto text = m.render(c, self->backend_.get(), self->journal_->commits(),
                         self->server_, pool ? &*pool : nullptr);
    m.response(200);
    rep->send(
      {200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), {}});
  };
  if (!backend_)
    return render({});
  backend_->counters(render);
}

// -- threads ------------------------------------------------------------------

namespace {

/// Most bytes of a thread's metadata (a JSON object).
constexpr size_t max_metadata_bytes = 16 * 1024;

json thread_json(const journaled_thread& t) {
  json messages = json::array();
  for (auto& m : t.messages)
    messages.push_back(
      parse_json(m, "a thread message", journal_rows).value_or(json{}));
  json runs = json::array();
  for (auto& [id, status] : t.runs)
    runs.push_back(
      {{"id", id}, {"status", status == "queued" ? "running" : status}});
  json out{{"id", t.id},
           {"agent", t.agent},
           {"metadata", parse_json(t.metadata, "thread metadata", journal_rows)
                          .value_or(json::object())},
           {"created_ms", t.created_ms},
           {"updated_ms", t.updated_ms},
           {"messages", std::move(messages)},
           {"runs", std::move(runs)}};
  // `history: "summarize"`: what the model gets instead of the first
  // `covers` messages.
  if (!t.summary.empty())
    out["summary"] = {{"text", t.summary}, {"covers", t.summarized}};
  return out;
}

} // namespace

void service::threads_route(const http::request& req,
                            const std::string& principal,
                            std::shared_ptr<http::reply> rep) {
  // The route table let only its methods and paths by.
  if (req.path == "/v1/threads")
    return create_thread(req, principal, std::move(rep));
  std::string_view rest{req.path};
  rest.remove_prefix(std::string_view{"/v1/threads/"}.size());
  bool runs = false;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    runs = true;
    rest = rest.substr(0, slash);
  }
  std::string id{rest};
  // A principal sees only its own threads: another's is "not found" too.
  auto thread = valid_name(id) ? journal_->get_thread(id) : std::nullopt;
  if (!thread || thread->principal != principal)
    return fail(rep, 404, "not_found", "no thread '" + cut(id, 64) + "'");
  if (runs)
    return run_thread(req, principal, *thread, std::move(rep));
  if (req.method == "GET") {
    auto body = thread_json(*thread);
    // Runs still in flight: running, or queued behind the one running.
    std::lock_guard guard{mutex_};
    if (auto it = threads_.find(id); it != threads_.end())
      for (auto& run : body["runs"])
        for (auto& w : it->second.waiting)
          if (run["id"] == w.meta.id)
            run["status"] = "queued";
    return reply(rep, json_response(200, body));
  }
  // DELETE.
  {
    std::lock_guard guard{mutex_};
    if (auto it = threads_.find(id);
        it != threads_.end() && it->second.running != 0)
      return fail(rep, 409, "thread_busy",
                  "thread '" + id + "' has a run going (task " +
                    std::to_string(it->second.running) +
                    "); delete it once the run ends");
  }
  auto self = shared_from_this();
  journal_->delete_thread(id, [self, rep] {
    self->reply(rep, http::response{204, "application/json", {}, {}});
  });
}

void service::create_thread(const http::request& req,
                            const std::string& principal,
                            std::shared_ptr<http::reply> rep) {
  if (!backend_)
    return fail(rep, 503, "not_ready", "the engine is starting");
  auto body = json_body(req, rep);
  if (!body)
    return;
  journaled_thread t;
  t.principal = principal;
  t.agent = std::string{agents::default_agent};
  for (auto& [key, value] : body->items()) {
    if (key == "agent") {
      if (!value.is_string() || !valid_name(value.get<std::string>()))
        return fail(rep, 400, "invalid_input",
                    "'agent' must be 1-64 characters of A-Z a-z 0-9 _ . -");
      t.agent = value.get<std::string>();
    } else if (key == "metadata") {
      if (!value.is_object())
        return fail(rep, 400, "invalid_input",
                    "'metadata' must be a JSON object, got " +
                      cut(dump(value), 40));
      t.metadata = dump(value);
      if (t.metadata.size() > max_metadata_bytes)
        return fail(rep, 400, "invalid_input",
                    "'metadata' is " + std::to_string(t.metadata.size()) +
                      " bytes as JSON, over the limit of " +
                      std::to_string(max_metadata_bytes));
    } else {
      return fail(rep, 400, "invalid_input",
                  "unknown field '" + key + "' (fields: agent, metadata)");
    }
  }
  if (auto known = backend_->agents(); known && !known->find(t.agent))
    return fail(rep, 400, "unknown_agent",
                agents::unknown_agent(t.agent, *known));
  t.id = "th_" + guardrail::approval_key::random().hex().substr(0, 24);
  t.created_ms = now_ms();
  t.updated_ms = t.created_ms;
  auto self = shared_from_this();
  journal_->create_thread(t, [self, t, rep](result<bool> ok) {
    if (!ok)
      return self->fail(rep, 503, "journal_unavailable", ok.error().message);
    auto res = json_response(201, thread_json(t));
    res.headers.emplace_back("Location", "/v1/threads/" + t.id);
    self->reply(rep, std::move(res));
  });
}

void service::run_thread(const http::request& req, const std::string& principal,
                         const journaled_thread& thread,
                         std::shared_ptr<http::reply> rep) {
  if (!taking_work(rep))
    return;
  auto body = json_body(req, rep);
  if (!body)
    return;
  bool queue = req.query == "wait=true" || req.query.find("wait=true&") == 0 ||
               req.query.find("&wait=true") != std::string::npos;
  bool stream = false;
  journaled_task t;
  t.principal = principal;
  t.agent = thread.agent;
  // The thread is the run's short-term memory session.
  t.session = thread.id;
  t.thread = thread.id;
  for (auto& [key, value] : body->items()) {
    if (key == "input") {
      if (!value.is_string())
        return fail(rep, 400, "invalid_input",
                    "'input' must be a string, got " + cut(dump(value), 40));
      t.input = value.get<std::string>();
    } else if (key == "stream") {
      if (!value.is_boolean())
        return fail(rep, 400, "invalid_input",
                    "'stream' must be true or false, got " +
                      cut(dump(value), 40));
      stream = value.get<bool>();
    } else if (key == "busy") {
      if (value != "reject" && value != "queue")
        return fail(rep, 400, "invalid_input",
                    "'busy' must be \"reject\" or \"queue\", got " +
                      cut(dump(value), 40));
      queue = queue || value == "queue";
    } else {
      return fail(rep, 400, "invalid_input",
                  "unknown field '" + key + "' (fields: input, busy, stream)");
    }
  }
  if (!body->contains("input"))
    return fail(rep, 400, "invalid_input", "'input' is required");
  if (auto known = backend_->agents(); known && !known->find(t.agent))
    return fail(rep, 400, "unknown_agent",
                "the thread's agent is gone: " +
                  agents::unknown_agent(t.agent, *known));
  t.request_hash = guardrail::api_key_digest(dump(*body));
  // Taken before the lock: it may ask the store for a block of ids.
  auto id = journal_->next_id();
  if (id == 0)
    return fail(rep, 503, "journal_unavailable",
                "the store cannot give a task id now (it is unreachable)");
  {
    // One writer per conversation: refused here at once if this replica
    // runs one; the journal refuses it if another replica does (or
    // places it after the runs of the thread that have not ended).
    std::lock_guard guard{mutex_};
    auto& runs = threads_[thread.id];
    if (runs.running != 0 && !queue)
      return fail(rep, 409, "thread_busy",
                  "thread '" + thread.id + "' has a run going (task " +
                    std::to_string(runs.running) +
                    "): one run at a time; send \"busy\": \"queue\" (or "
                    "?wait=true) to run after it");
  }
  t.id = id;
  t.owner = journal_->lease().owner;
  t.fence = 1;
  t.created_ms = now_ms();
  auto self = shared_from_this();
  journal_->accept_run(
    t, !queue, [self, t, rep, stream](result<run_place> place) mutable {
      if (!place) {
        self->advance(t.thread);
        if (place.error().code == errc::thread_busy)
          return self->fail(rep, 409, "thread_busy",
                            "thread '" + t.thread +
                              "' has a run going (on another replica): one run "
                              "at a time; send \"busy\": \"queue\" (or "
                              "?wait=true) to run after it");
        if (place.error().code == errc::not_found)
          return self->fail(rep, 404, "not_found",
                            "no thread '" + t.thread + "'");
        return self->fail(rep, 503, "journal_unavailable",
                          place.error().message);
      }
      t.turn = place->turn;
      bool now = false;
      {
        std::lock_guard guard{self->mutex_};
        auto& runs = self->threads_[t.thread];
        if (place->ahead == 0 && runs.running == 0 && runs.waiting.empty()) {
          runs.running = t.id;
          now = true;
        } else {
          // Its turn is the thread's latest: last in line.
          runs.waiting.push_back({t, {}, false});
        }
      }
      auto id = t.id;
      json accepted{{"id", id},
                    {"thread", t.thread},
                    {"status", now ? "running" : "queued"}};
      if (stream) {
        // The run's events on this response: `run` (as the 202 would say),
        // then the rest, as on GET /v1/tasks/{id}/events.
        self->metrics_->response(200);
        std::shared_ptr<http::event_stream> events = rep->open_stream();
        // Its id is below every event of the task's (a microsecond clock):
        // Last-Event-ID with it on /v1/tasks/{id}/events gives them all.
        events->send(
          "run", dump(accepted),
          std::to_string(static_cast<uint64_t>(now_ms()) * 1000 - 1));
        std::lock_guard guard{self->mutex_};
        self->pending_watchers_[id].push_back(std::move(events));
      }
      auto thread = t.thread;
      if (now)
        self->start(std::move(t));
      if (!stream) {
        auto res = json_response(202, accepted);
        res.headers.emplace_back("Location", "/v1/tasks/" + std::to_string(id));
        self->reply(rep, std::move(res));
      }
      if (!now)
        // The runs before it may have ended meanwhile.
        self->advance(thread);
    });
}

void service::advance(const std::string& thread) {
  uint64_t id = 0;
  uint64_t turn = 0;
  {
    std::lock_guard guard{mutex_};
    auto it = threads_.find(thread);
    if (it == threads_.end())
      return;
    auto& runs = it->second;
    if (runs.running == 0 && runs.waiting.empty()) {
      threads_.erase(it);
      return;
    }
    if (runs.running != 0)
      return;
    id = runs.waiting.front().meta.id;
    turn = runs.waiting.front().meta.turn;
  }
  // Every run before it, on any replica, must have ended (a run from
  // before turns, 0, follows this replica's order alone). If the store
  // cannot say now, the next lease tick asks again.
  if (turn != 0) {
    auto ahead = journal_->runs_ahead(thread, turn);
    if (!ahead || *ahead > 0)
      return;
  }
  std::optional<waiting_run> next;
  {
    std::lock_guard guard{mutex_};
    auto it = threads_.find(thread);
    if (it == threads_.end())
      return;
    auto& runs = it->second;
    if (runs.running != 0 || runs.waiting.empty() ||
        runs.waiting.front().meta.id != id)
      return;
    next = std::move(runs.waiting.front());
    runs.waiting.pop_front();
    runs.running = id;
  }
  start(std::move(next->meta), std::move(next->done), next->resumed);
}

void service::end_run(const std::string& thread, uint64_t id) {
  {
    std::lock_guard guard{mutex_};
    auto it = threads_.find(thread);
    if (it == threads_.end())
      return;
    if (id != 0 && it->second.running == id)
      it->second.running = 0;
  }
  advance(thread);
}

void service::thread_history(
  const journaled_task& meta,
  std::function<void(std::vector<chat_message>)> then) {
  auto t = journal_->get_thread(meta.thread);
  if (!t)
    return then({});
  std::vector<chat_message> all;
  for (auto& text : t->messages)
    if (auto j = parse_json(text, "a thread message", journal_rows))
      if (auto m = message_from_json(*j))
        all.push_back(std::move(*m));
  uint64_t budget = 16000;
  bool summarize = false;
  if (auto known = backend_ ? backend_->agents() : nullptr)
    if (auto a = known->find(meta.agent)) {
      budget = a->history_tokens;
      summarize = a->summarize_history;
    }
  auto plan = plan_history(all, t->summary, t->summarized, budget, summarize);
  if (plan.to_summarize.empty())
    return then(
      with_summary(summarize ? t->summary : "", std::move(plan.kept)));
  // The turns past the budget are summarized by the agent's model, with
  // the summary so far, before the run starts (the thread is this run's
  // alone meanwhile); the summary is kept so that the next run starts from
  // it. Should the model fail, the run goes on without them, and the next
  // one tries again.
  auto covered = t->summarized + plan.to_summarize.size();
  auto request = summary_request(t->summary, plan.to_summarize, budget);
  auto self = shared_from_this();
  backend_->complete(
    meta.agent, meta.id, std::move(request),
    [self, thread = meta.thread, id = meta.id, old = t->summary, covered,
     kept = std::move(plan.kept),
     then = std::move(then)](result<std::string> summary) mutable {
      if (!summary) {
        log::get()->warn(
          R"("event":"summary_failed","thread":"{}","task":{},"reason":{})",
          thread, id, log::quote(summary.error().message));
        return then(with_summary(old, std::move(kept)));
      }
      auto text = *summary;
      self->journal_->set_summary(thread, std::move(*summary), covered,
                                  [then = std::move(then),
                                   text = std::move(text),
                                   kept = std::move(kept)]() mutable {
                                    then(with_summary(text, std::move(kept)));
                                  });
    });
}

// -- OpenAI-compatible chat completions
// ----------------------------------------

void service::chat_completions(const http::request& req,
                               const std::string& principal,
                               std::shared_ptr<http::reply> rep) {
  if (!taking_work(rep))
    return;
  auto body = json_body(req, rep);
  if (!body)
    return;
  auto parsed = parse_completion_request(*body);
  if (!parsed)
    return fail(rep, 400, "invalid_input", parsed.error().message);
  auto& creq = *parsed;
  if (!valid_name(creq.model))
    return fail(rep, 404, "model_not_found",
                "'model' must name an agent (1-64 characters of A-Z a-z 0-9 "
                "_ . -)");
  if (auto known = backend_->agents(); known && !known->find(creq.model))
    return fail(rep, 404, "model_not_found",
                agents::unknown_agent(creq.model, *known));
  journaled_task t;
  t.principal = principal;
  t.agent = creq.model;
  t.session = "completions";
  t.input = std::move(creq.input);
  t.id = journal_->next_id();
  if (t.id == 0)
    return fail(rep, 503, "journal_unavailable",
                "the store cannot give a task id now (it is unreachable)");
  t.created_ms = now_ms();
  auto id = "chatcmpl-" + std::to_string(t.id);
  auto created = t.created_ms / 1000;
  auto model = creq.model;
  task_hooks hooks;
  if (!creq.stream) {
    auto self = shared_from_this();
    hooks.end = [self, rep, id, created, model](const task_result& r) {
      if (r.status == task_status::completed)
        return self->reply(
          rep, json_response(200, completion_json(id, created, model, r)));
      auto status =
        r.status == task_status::rejected ? 400 : status_for(r.error_code);
      self->fail(rep, status, r.error_code.empty() ? "failed" : r.error_code,
                 r.answer);
    };
  } else {
    metrics_->response(200);
    std::shared_ptr<http::event_stream> stream = rep->open_stream();
    auto chunk = [=](json delta, json finish) {
      return http::sse_format(
        {}, dump(chunk_json(id, created, model, std::move(delta),
                            std::move(finish))));
    };
    stream->send_raw(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
    hooks.token = [stream, chunk](const std::string& delta) {
      stream->send_raw(chunk({{"content", delta}}, nullptr));
    };
    hooks.end = [stream, chunk, id, created, model,
                 usage = creq.include_usage](const task_result& r) {
      if (r.status == task_status::completed) {
        stream->send_raw(chunk(json::object(), "stop"));
        if (usage)
          stream->send_raw(http::sse_format(
            {}, dump(usage_chunk(id, created, model, r.usage))));
      } else {
        // The error as OpenAI streams one: the client raises it.
        stream->send_raw(
          http::sse_format({}, dump(json{{"error",
                                          {{"message", r.answer},
                                           {"type", "troupe_error"},
                                           {"code", r.error_code}}}})));
      }
      stream->send_raw(http::sse_format({}, "[DONE]"));
      stream->close();
    };
  }
  start(std::move(t), {}, false, std::move(creq.history), std::move(hooks));
}

} // namespace troupe::daemon
