#include "store/journal.hpp"

#include <chrono>

namespace troupe::store {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

journal::journal() = default;

journal::~journal() {
  // The backend stopped the writer; this is for one that never started.
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
  for (;;) {
    std::deque<journal_op> batch;
    {
      std::unique_lock lock{mutex_};
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty() && stopping_)
        return;
      batch.swap(queue_);
    }
    batch_failed_ = false;
    auto after = commit(batch);
    if (!batch_failed_)
      commits_.fetch_add(1);
    for (auto& f : after)
      if (f)
        f();
  }
}

std::function<void()> journal::stored(journal_op& op) {
  return std::visit(
    [](auto& o) -> std::function<void()> {
      using T = std::decay_t<decltype(o)>;
      if constexpr (std::is_same_v<T, accept_op> ||
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
                      std::is_same_v<T, thread_op>)
          out.push_back([done = std::move(o.done), why] {
            done(failure{errc::role_down, why});
          });
        else
          // Steps, ends and flushes have nobody to tell but the waiter.
          out.push_back(std::move(o.done));
      },
      op);
  return out;
}

void journal::accept(journaled_task task,
                     std::function<void(result<bool>)> done) {
  push(accept_op{std::move(task), std::move(done)});
}

void journal::step(uint64_t id, uint64_t index, std::string record,
                   std::function<void()> done) {
  push(step_op{id, index, std::move(record), std::move(done)});
}

void journal::finish(uint64_t id, std::string status, std::string result,
                     std::function<void()> done) {
  push(finish_op{id, std::move(status), std::move(result), std::move(done)});
}

void journal::finish_turn(uint64_t id, std::string status, std::string result,
                          std::string thread, std::vector<std::string> messages,
                          std::function<void()> done) {
  push(finish_op{id, std::move(status), std::move(result), std::move(done),
                 std::move(thread), std::move(messages)});
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
