#include "store/pg.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include <cstdlib>
#include <poll.h>

#include "store/hex.hpp"

namespace troupe::store {

namespace {

/// libpq's messages end in a newline (or several lines): one line.
std::string one_line(const char* msg) {
  std::string out = msg ? msg : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

} // namespace

std::string redacted_dsn(std::string_view dsn) {
  std::string out{dsn};
  // URI: scheme://user:password@host…
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    auto at = out.find('@', scheme + 3);
    auto colon = out.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at)
      out.replace(colon + 1, at - colon - 1, "***");
    // …and ?password=… in its query.
    if (auto q = out.find("password=", scheme); q != std::string::npos) {
      auto end = out.find('&', q);
      out.replace(q + 9, (end == std::string::npos ? out.size() : end) - q - 9,
                  "***");
    }
    return out;
  }
  // key=value pairs: password=… or password='…'.
  for (size_t at = out.find("password"); at != std::string::npos;
       at = out.find("password", at + 1)) {
    auto eq = out.find_first_not_of(' ', at + 8);
    if (eq == std::string::npos || out[eq] != '=')
      continue;
    auto v = out.find_first_not_of(' ', eq + 1);
    if (v == std::string::npos)
      break;
    size_t end;
    if (out[v] == '\'') {
      end = v + 1;
      while (end < out.size() && out[end] != '\'')
        end += out[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, out.size());
    } else {
      end = out.find(' ', v);
      if (end == std::string::npos)
        end = out.size();
    }
    out.replace(v, end - v, "***");
  }
  return out;
}

pg_params& pg_params::bytes(std::string_view x) {
  values_.emplace_back(hex(x, "\\x"));
  return *this;
}

pg_params& pg_params::text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out.push_back(',');
    out.push_back('"');
    for (char c : xs[i]) {
      if (c == '"' || c == '\\')
        out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  values_.emplace_back(std::move(out));
  return *this;
}

// -- rows --------------------------------------------------------------------

pg_rows::pg_rows(::pg_result* r) : r_(r) {}

pg_rows::pg_rows(pg_rows&& other) noexcept : r_(other.r_) {
  other.r_ = nullptr;
}

pg_rows& pg_rows::operator=(pg_rows&& other) noexcept {
  if (this != &other) {
    if (r_)
      PQclear(r_);
    r_ = other.r_;
    other.r_ = nullptr;
  }
  return *this;
}

pg_rows::~pg_rows() {
  if (r_)
    PQclear(r_);
}

size_t pg_rows::size() const {
  return r_ ? static_cast<size_t>(PQntuples(r_)) : 0;
}

std::string_view pg_rows::text(size_t row, size_t col) const {
  auto r = static_cast<int>(row);
  auto c = static_cast<int>(col);
  return {PQgetvalue(r_, r, c), static_cast<size_t>(PQgetlength(r_, r, c))};
}

int64_t pg_rows::integer(size_t row, size_t col) const {
  return std::strtoll(
    PQgetvalue(r_, static_cast<int>(row), static_cast<int>(col)), nullptr, 10);
}

std::string pg_rows::bytes(size_t row, size_t col) const {
  // BYTEA in text format: \x and two hex digits a byte.
  auto t = text(row, col);
  if (t.size() < 2 || t[0] != '\\' || t[1] != 'x')
    return std::string{t};
  auto nibble = [](char c) {
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
  };
  std::string out;
  out.reserve((t.size() - 2) / 2);
  for (size_t i = 2; i + 1 < t.size(); i += 2)
    out.push_back(static_cast<char>(nibble(t[i]) << 4 | nibble(t[i + 1])));
  return out;
}

bool pg_rows::is_null(size_t row, size_t col) const {
  return PQgetisnull(r_, static_cast<int>(row), static_cast<int>(col)) == 1;
}

uint64_t pg_rows::affected() const {
  const char* n = r_ ? PQcmdTuples(r_) : "";
  return *n ? std::strtoull(n, nullptr, 10) : 0;
}

// -- connection --------------------------------------------------------------

result<std::unique_ptr<pg_connection>>
pg_connection::open(const pg_settings& cfg) {
  auto timeout = std::to_string(
    std::max<int64_t>(1, (cfg.connect_timeout.count() + 999) / 1000));
  auto options =
    "-c statement_timeout=" + std::to_string(cfg.statement_timeout.count());
  const char* keys[] = {"dbname", "connect_timeout", "options",
                        "application_name", nullptr};
  const char* values[] = {cfg.dsn.c_str(), timeout.c_str(), options.c_str(),
                          "troupe", nullptr};
  // expand_dbname: `dbname` is the whole connection string; what it sets
  // wins over the keys after it, but for the options it leaves alone.
  auto* c = PQconnectdbParams(keys, values, 1);
  if (!c)
    return failure{errc::role_down,
                   "cannot connect to PostgreSQL: out of memory"};
  if (PQstatus(c) != CONNECTION_OK) {
    auto why = one_line(PQerrorMessage(c));
    PQfinish(c);
    return failure{errc::role_down, "cannot connect to PostgreSQL at '" +
                                      redacted_dsn(cfg.dsn) + "': " + why};
  }
  // Notices (e.g. "already exists, skipping") are not the caller's output.
  PQsetNoticeProcessor(
    c, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<pg_connection>{new pg_connection{c}};
}

pg_connection::~pg_connection() {
  PQfinish(c_);
}

bool pg_connection::ok() const {
  return !broken_ && PQstatus(c_) == CONNECTION_OK;
}

result<std::vector<std::string>>
pg_connection::notifications(std::chrono::milliseconds timeout, int wake_fd) {
  std::vector<std::string> out;
  auto take = [&] {
    while (PGnotify* n = PQnotifies(c_)) {
      out.emplace_back(n->extra ? n->extra : "");
      PQfreemem(n);
    }
  };
  auto gone = [&] {
    broken_ = true;
    return failure{errc::role_down, std::string{"the database connection "
                                                "is gone: "} +
                                      PQerrorMessage(c_)};
  };
  take();
  if (!out.empty())
    return out;
  pollfd fds[2] = {{PQsocket(c_), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  if (fds[0].fd < 0)
    return gone();
  int n = ::poll(
    fds, wake_fd >= 0 ? 2 : 1,
    static_cast<int>(std::clamp<int64_t>(timeout.count(), 0, INT32_MAX)));
  if (n < 0 && errno != EINTR)
    return gone();
  if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
    if (PQconsumeInput(c_) == 0)
      return gone();
    take();
  }
  return out;
}

result<pg_rows> pg_connection::check(::pg_result* r) {
  pg_rows rows{r};
  auto status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    sqlstate_.clear();
    return rows;
  }
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  sqlstate_ = state ? state : "";
  auto msg = one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c_));
  if (msg.empty())
    msg = one_line(PQerrorMessage(c_));
  auto cls = sqlstate_.substr(0, 2);
  errc code = errc::unspecified;
  if (!ok() || cls == "08" || sqlstate_ == "57P01" || sqlstate_ == "57P02" ||
      sqlstate_ == "57P03")
    code = errc::role_down;
  else if (cls == "23")
    code = errc::invalid_input;
  else if (sqlstate_ == "57014")
    code = errc::timeout;
  return failure{code, "PostgreSQL: " + msg};
}

result<pg_rows> pg_connection::exec(std::string_view sql,
                                    const pg_params& params) {
  std::string text{sql};
  auto& vs = params.values();
  std::vector<const char*> values;
  values.reserve(vs.size());
  for (auto& v : vs)
    values.push_back(v ? v->c_str() : nullptr);
  return check(PQexecParams(c_, text.c_str(), static_cast<int>(values.size()),
                            nullptr, values.data(), nullptr, nullptr, 0));
}

result<std::vector<pg_rows>> pg_connection::pipeline(
  const std::vector<std::pair<std::string, pg_params>>& statements) {
  std::vector<pg_rows> out;
  if (statements.empty())
    return out;
  auto lost = [&](const char* what) {
    broken_ = true;
    return failure{errc::role_down, std::string{"PostgreSQL: "} + what + ": " +
                                      one_line(PQerrorMessage(c_))};
  };
  if (PQenterPipelineMode(c_) != 1)
    return lost("cannot start a pipeline");
  for (auto& [sql, params] : statements) {
    auto& vs = params.values();
    std::vector<const char*> values;
    values.reserve(vs.size());
    for (auto& v : vs)
      values.push_back(v ? v->c_str() : nullptr);
    if (PQsendQueryParams(c_, sql.c_str(), static_cast<int>(values.size()),
                          nullptr, values.data(), nullptr, nullptr, 0) != 1)
      return lost("cannot send a statement");
  }
  if (PQpipelineSync(c_) != 1)
    return lost("cannot end the pipeline");
  std::optional<failure> first;
  for (size_t i = 0; i < statements.size(); ++i) {
    auto* r = PQgetResult(c_);
    if (!r)
      return lost("the pipeline's answers stopped");
    if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
    } else if (auto rows = check(r)) {
      out.push_back(std::move(*rows));
    } else if (!first) {
      first = rows.error();
    }
    // Each statement's results end with a null.
    while (auto* more = PQgetResult(c_))
      PQclear(more);
  }
  auto* sync = PQgetResult(c_);
  bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync)
    PQclear(sync);
  if (!synced || PQexitPipelineMode(c_) != 1)
    return lost("the pipeline did not end cleanly");
  if (first)
    return *first;
  return out;
}

result<bool> pg_connection::exec_script(std::string_view sql) {
  std::string text{sql};
  auto r = check(PQexec(c_, text.c_str()));
  if (!r)
    return r.error();
  return true;
}

// -- pool --------------------------------------------------------------------

const std::vector<double>& latency_bounds() {
  static const std::vector<double> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                          0.025,  0.05,  0.1,    0.25,  0.5,
                                          1,      2.5,   5,      10};
  return bounds;
}

pg_pool::pg_pool(pg_settings cfg)
  : cfg_(std::move(cfg)), latency_counts_(latency_bounds().size() + 1, 0) {}

result<std::unique_ptr<pg_pool>> pg_pool::open(pg_settings cfg) {
  if (cfg.max_connections == 0)
    return failure{errc::invalid_config,
                   "the PostgreSQL pool needs at least one connection"};
  cfg.min_connections =
    std::clamp<uint32_t>(cfg.min_connections, 1, cfg.max_connections);
  auto first = pg_connection::open(cfg);
  if (!first)
    return first.error();
  auto pool = std::unique_ptr<pg_pool>{new pg_pool{std::move(cfg)}};
  std::lock_guard guard{pool->mutex_};
  auto* raw = pool.get();
  pool->open_ = pool->cfg_.min_connections;
  pool->threads_.emplace_back(
    [raw, c = std::move(*first)]() mutable { raw->work(std::move(c)); });
  for (uint32_t i = 1; i < pool->cfg_.min_connections; ++i)
    pool->threads_.emplace_back([raw] {
      auto c = pg_connection::open(raw->cfg_);
      raw->work(c ? std::move(*c) : nullptr);
    });
  return pool;
}

pg_pool::~pg_pool() {
  {
    std::lock_guard guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_all();
  stop_.notify_all();
  for (auto& t : threads_)
    t.join();
}

void pg_pool::grow_locked() {
  // More queued than threads free to take them (a thread just started
  // counts once it waits): one more, up to the limit.
  if (queue_.size() <= idle_ || open_ >= cfg_.max_connections || stopping_)
    return;
  ++open_;
  threads_.emplace_back([this] { work(nullptr); });
}

void pg_pool::submit(job j) {
  {
    std::unique_lock lock{mutex_};
    if (down_ || stopping_) {
      ++failed_fast_;
      auto why =
        stopping_ ? std::string{"the store is shutting down"} : reason_;
      lock.unlock();
      return j(failure{errc::role_down, why});
    }
    queue_.push_back({std::move(j), std::chrono::steady_clock::now()});
    grow_locked();
  }
  wake_.notify_one();
}

std::unique_ptr<pg_connection> pg_pool::try_connect(failure& why, bool& probe) {
  probe = false;
  auto c = pg_connection::open(cfg_);
  if (c)
    return std::move(*c);
  why = c.error();
  // The server is unreachable: the queued jobs fail now, and so does what
  // comes until a connection opens again; one thread tries, with backoff.
  std::deque<queued> failed;
  {
    std::lock_guard guard{mutex_};
    down_ = true;
    reason_ = why.message;
    failed.swap(queue_);
    failed_fast_ += failed.size();
    probe = !probing_;
    probing_ = true;
  }
  for (auto& f : failed)
    f.j(why);
  return nullptr;
}

std::unique_ptr<pg_connection> pg_pool::probe() {
  std::unique_ptr<pg_connection> conn;
  auto wait = cfg_.backoff_min;
  for (;;) {
    {
      // Its own condition: a job's wake-up must reach a worker, not this.
      std::unique_lock pause{mutex_};
      if (stop_.wait_for(pause, wait, [&] { return stopping_; }))
        break;
    }
    if (auto again = pg_connection::open(cfg_)) {
      conn = std::move(*again);
      break;
    } else {
      std::lock_guard guard{mutex_};
      reason_ = again.error().message;
    }
    wait = std::min(wait * 2, cfg_.backoff_max);
  }
  std::lock_guard guard{mutex_};
  probing_ = false;
  if (conn) {
    down_ = false;
    reason_.clear();
    ++reconnects_;
    // The connections opened before the server went away are stale.
    ++generation_;
  }
  return conn;
}

void pg_pool::work(std::unique_ptr<pg_connection> conn) {
  std::unique_lock lock{mutex_};
  auto conn_generation = generation_;
  for (;;) {
    ++idle_;
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty())
      return; // stopping, and nothing left to do
    auto q = std::move(queue_.front());
    queue_.pop_front();
    // A connection from before the server went away would fail this job:
    // a new one instead.
    if (conn_generation != generation_)
      conn.reset();
    conn_generation = generation_;
    lock.unlock();
    failure why{errc::role_down, "the store is unreachable"};
    bool probing = false;
    if (!conn || !conn->ok())
      conn = try_connect(why, probing);
    if (conn) {
      q.j(conn.get());
      // A connection that broke during the job: find out now whether the
      // server is there, so that /ready says so before the next job.
      if (!conn->ok())
        conn = try_connect(why, probing);
    } else {
      {
        std::lock_guard guard{mutex_};
        ++failed_fast_;
      }
      q.j(why);
    }
    if (probing) {
      conn = probe();
      std::lock_guard guard{mutex_};
      conn_generation = generation_;
    }
    auto took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - q.at)
        .count();
    lock.lock();
    ++jobs_;
    latency_sum_ += took;
    auto& bounds = latency_bounds();
    auto bucket =
      std::lower_bound(bounds.begin(), bounds.end(), took) - bounds.begin();
    ++latency_counts_[static_cast<size_t>(bucket)];
  }
}

pg_pool_stats pg_pool::stats() const {
  std::lock_guard guard{mutex_};
  pg_pool_stats s;
  s.open = open_;
  s.in_use = open_ - std::min(open_, idle_);
  s.waiting = queue_.size();
  s.up = !down_;
  s.reason = reason_;
  s.jobs = jobs_;
  s.failed_fast = failed_fast_;
  s.reconnects = reconnects_;
  s.latency_counts = latency_counts_;
  s.latency_sum = latency_sum_;
  return s;
}

} // namespace troupe::store
