#include "store/journal.hpp"

#include <algorithm>
#include <chrono>

namespace troupe::store {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

journal::journal(lease_settings lease) : lease_(std::move(lease)) {}

journal::~journal() {
  // The backend stopped the writer; this is for one that never started.
  stop_leases();
  stop_writer();
}

void journal::start_writer() {
  std::lock_guard guard{mutex_};
  if (started_)
    return;
  started_ = true;
  thread_ = std::thread{[this] { run(); }};
}

void journal::stop_writer() {
  {
    std::lock_guard guard{mutex_};
    if (!started_ || stopping_)
      return;
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void journal::push(journal_op op) {
  {
    std::lock_guard guard{mutex_};
    queue_.push_back(std::move(op));
  }
  wake_.notify_one();
}

void journal::run() {
  constexpr std::chrono::milliseconds backoff_min{50};
  constexpr std::chrono::milliseconds backoff_max{2000};
  auto backoff = backoff_min;
  for (;;) {
    std::deque<journal_op> batch;
    {
      std::unique_lock lock{mutex_};
      wake_.wait(
        lock, [&] { return stopping_ || !queue_.empty() || !retry_.empty(); });
      if (queue_.empty() && retry_.empty() && stopping_)
        return;
      // What failed before goes first: a task's writes stay in order.
      batch.swap(retry_);
      for (auto& op : queue_)
        batch.push_back(std::move(op));
      queue_.clear();
    }
    batch_failed_ = false;
    auto after = commit(batch);
    if (!batch_failed_)
      commits_.fetch_add(1);
    for (auto& f : after)
      if (f)
        f();
    if (!batch_failed_) {
      backoff = backoff_min;
      continue;
    }
    std::unique_lock lock{mutex_};
    if (stopping_) {
      // Closing while the store is unreachable: what it could not take is
      // left (the task stays unfinished in the store, for a resumption).
      retry_.clear();
      continue;
    }
    wake_.wait_for(lock, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, backoff_max);
  }
}

std::function<void()> journal::stored(journal_op& op) {
  return std::visit(
    [](auto& o) -> std::function<void()> {
      using T = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<T, run_op>) {
        // Its backend answers it with its place.
        return {};
      } else if constexpr (std::is_same_v<T, accept_op> ||
                           std::is_same_v<T, thread_op>) {
        if (!o.done)
          return {};
        return [done = std::move(o.done)] { done(true); };
      } else {
        return std::move(o.done);
      }
    },
    op);
}

std::vector<std::function<void()>>
journal::failed(std::deque<journal_op>& batch, const std::string& why) {
  batch_failed_ = true;
  std::vector<std::function<void()>> out;
  for (auto& op : batch)
    std::visit(
      [&](auto& o) {
        using T = std::decay_t<decltype(o)>;
        if (!o.done)
          return;
        if constexpr (std::is_same_v<T, accept_op> ||
                      std::is_same_v<T, thread_op> || std::is_same_v<T, run_op>)
          out.push_back([done = std::move(o.done), why] {
            done(failure{errc::role_down, why});
          });
        else if constexpr (std::is_same_v<T, flush_op>)
          out.push_back(std::move(o.done));
      },
      op);
  // Steps and ends are tried again (with their callbacks): nobody is
  // waiting to be told no, and dropping them would lose a finished task.
  for (auto& op : batch)
    if (std::holds_alternative<step_op>(op) ||
        std::holds_alternative<finish_op>(op))
      retry_.push_back(std::move(op));
  return out;
}

std::function<void()> journal::fenced(uint64_t id) {
  if (!on_fenced_)
    return {};
  return [this, id] { on_fenced_(id); };
}

void journal::accept(journaled_task task,
                     std::function<void(result<bool>)> done) {
  push(accept_op{std::move(task), std::move(done)});
}

void journal::accept_run(journaled_task task, bool exclusive,
                         std::function<void(result<run_place>)> done) {
  push(run_op{std::move(task), exclusive, std::move(done)});
}

void journal::step(uint64_t id, uint64_t index, std::string record,
                   std::function<void()> done, uint64_t fence) {
  push(step_op{id, index, std::move(record), std::move(done), fence});
}

void journal::finish(uint64_t id, std::string status, std::string result,
                     std::function<void()> done, uint64_t fence,
                     int64_t ended_ms) {
  push(finish_op{id,
                 std::move(status),
                 std::move(result),
                 std::move(done),
                 {},
                 {},
                 fence,
                 ended_ms ? ended_ms : now_ms()});
}

void journal::finish_turn(uint64_t id, std::string status, std::string result,
                          std::string thread, std::vector<std::string> messages,
                          std::function<void()> done, uint64_t fence,
                          int64_t ended_ms) {
  push(finish_op{id, std::move(status), std::move(result), std::move(done),
                 std::move(thread), std::move(messages), fence,
                 ended_ms ? ended_ms : now_ms()});
}

// -- leases ------------------------------------------------------------------

void journal::wait_changes(std::chrono::milliseconds timeout,
                           const std::function<void(changes)>&) {
  std::unique_lock lock{lease_mutex_};
  lease_wake_.wait_for(lock, timeout, [&] { return lease_stopping_; });
}

void journal::keep_leases(
  std::function<void(std::vector<journaled_task>)> claimed,
  std::function<void(changes)> changed) {
  std::lock_guard guard{lease_mutex_};
  if (lease_thread_.joinable())
    return;
  claimed_ = std::move(claimed);
  changed_ = std::move(changed);
  lease_thread_ = std::thread{[this] { run_leases(); }};
}

void journal::stop_leases() {
  {
    std::lock_guard guard{lease_mutex_};
    if ((!lease_thread_.joinable() && !retention_thread_.joinable()) ||
        lease_stopping_)
      return;
    lease_stopping_ = true;
  }
  lease_wake_.notify_all();
  interrupt_changes();
  if (lease_thread_.joinable())
    lease_thread_.join();
  if (retention_thread_.joinable())
    retention_thread_.join();
}

// -- retention ---------------------------------------------------------------

result<uint64_t> journal::prune_all(const retention_settings& r) {
  int64_t cutoff =
    r.max_age_hours == 0
      ? 0
      : now_ms() - static_cast<int64_t>(r.max_age_hours) * 3600 * 1000;
  uint64_t below = 0;
  if (r.max_tasks != 0) {
    auto bound = count_bound(r.max_tasks);
    if (!bound)
      return bound.error();
    below = *bound;
  }
  if (cutoff == 0 && below == 0)
    return uint64_t{0};
  uint64_t total = 0;
  for (;;) {
    {
      std::lock_guard guard{lease_mutex_};
      if (lease_stopping_)
        break;
    }
    auto n = prune(cutoff, below, r.batch);
    if (!n)
      return n.error();
    total += *n;
    pruned_.fetch_add(*n);
    if (*n < r.batch)
      break;
  }
  if (total > 0)
    compact();
  return total;
}

void journal::keep_retention(retention_settings r) {
  std::lock_guard guard{lease_mutex_};
  if (retention_thread_.joinable() ||
      (r.max_age_hours == 0 && r.max_tasks == 0))
    return;
  retention_thread_ = std::thread{[this, r] {
    for (;;) {
      (void)prune_all(r);
      std::unique_lock lock{lease_mutex_};
      if (lease_wake_.wait_for(lock, r.every, [&] { return lease_stopping_; }))
        return;
    }
  }};
}

void journal::run_leases() {
  using namespace std::chrono;
  auto lease = milliseconds{std::max<int64_t>(lease_.lease_ms, 30)};
  auto renew_every = lease / 3;
  // A dead replica's tasks run again at most a lease and a claim tick
  // after its last renewal: the tick is short (one indexed query).
  auto claim_every = std::min<milliseconds>(lease / 20, milliseconds{250});
  auto now = steady_clock::now();
  auto next_renew = now + renew_every;
  auto next_claim = now + claim_every;
  for (;;) {
    {
      std::lock_guard guard{lease_mutex_};
      if (lease_stopping_)
        return;
    }
    now = steady_clock::now();
    if (now >= next_renew) {
      (void)renew();
      next_renew = now + renew_every;
    }
    if (now >= next_claim) {
      if (claiming_ && claimed_) {
        auto got = claim(false, 256);
        claimed_(got ? std::move(*got) : std::vector<journaled_task>{});
      }
      next_claim = now + claim_every;
    }
    auto until = std::min(next_renew, next_claim);
    auto wait = duration_cast<milliseconds>(until - steady_clock::now());
    wait_changes(std::max(wait, milliseconds{1}), [&](changes c) {
      if (changed_ && !c.empty())
        changed_(std::move(c));
    });
  }
}

void journal::create_thread(journaled_thread thread,
                            std::function<void(result<bool>)> done) {
  push(thread_op{std::move(thread), thread_op::create, std::move(done)});
}

namespace {

std::function<void(result<bool>)> ignoring(std::function<void()> done) {
  if (!done)
    return {};
  return [done = std::move(done)](result<bool>) { done(); };
}

} // namespace

void journal::set_summary(std::string id, std::string summary,
                          uint64_t summarized, std::function<void()> done) {
  journaled_thread t;
  t.id = std::move(id);
  t.summary = std::move(summary);
  t.summarized = summarized;
  push(
    thread_op{std::move(t), thread_op::summarize, ignoring(std::move(done))});
}

void journal::delete_thread(std::string id, std::function<void()> done) {
  journaled_thread t;
  t.id = std::move(id);
  push(thread_op{std::move(t), thread_op::remove, ignoring(std::move(done))});
}

void journal::flush() {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  push(flush_op{[&] {
    std::lock_guard guard{m};
    done = true;
    cv.notify_one();
  }});
  std::unique_lock lock{m};
  cv.wait(lock, [&] { return done; });
}

uint64_t journal::commits() const {
  return commits_.load();
}

} // namespace troupe::store
