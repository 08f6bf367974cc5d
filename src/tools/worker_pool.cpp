#include "tools/worker_pool.hpp"

#include <algorithm>

namespace troupe::tools {

worker_pool::worker_pool(size_t threads, size_t max_queued)
  : max_queued_(std::max<size_t>(max_queued, 1)) {
  threads = std::max<size_t>(threads, 1);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] { run(); });
}

worker_pool::~worker_pool() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    t.join();
}

bool worker_pool::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ || jobs_.size() >= max_queued_)
      return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

size_t worker_pool::queued() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return jobs_.size();
}

size_t worker_pool::busy() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return busy_;
}

void worker_pool::run() {
  std::unique_lock<std::mutex> lock{mtx_};
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty())
      return; // stopping, and nothing left to run
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    ++busy_;
    lock.unlock();
    job();
    job = nullptr; // release what the job holds before taking the lock
    lock.lock();
    --busy_;
  }
}

} // namespace troupe::tools
