#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace troupe::tools {

/// A fixed set of threads for tools that block (files, processes,
/// network), so they never hold a CAF scheduler thread. The queue is
/// bounded: past it, `submit` refuses instead of letting work pile up.
class worker_pool {
public:
  /// Starts `threads` threads (at least 1) with room for `max_queued` jobs
  /// waiting.
  worker_pool(size_t threads, size_t max_queued);

  /// Runs the jobs already queued, then joins the threads.
  ~worker_pool();

  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Queues `job`; false if the queue is full or the pool is stopping.
  bool submit(std::function<void()> job);

  size_t threads() const noexcept {
    return threads_.size();
  }

  /// Jobs waiting for a thread.
  size_t queued() const;

  /// Jobs running now.
  size_t busy() const;

private:
  void run();

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  size_t max_queued_;
  size_t busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace troupe::tools
