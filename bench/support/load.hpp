#pragma once

// Bench support: a closed-loop load driver. Client actors keep a fixed
// number of jobs open and start the next one as soon as one ends.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "support/timing.hpp"

namespace troupe::bench {

/// How much load `closed_loop` keeps up, and what it records.
struct loop_shape {
  /// Jobs in all.
  size_t total = 0;
  /// Client actors. CAF 0.17 finds an actor's pending responses by a linear
  /// scan, so one client with many open requests pays for each of them.
  size_t clients = 1;
  /// Jobs each client keeps open.
  size_t per_client = 1;
  /// Whether to time each job (two clock reads per job).
  bool record_latencies = true;
};

/// What `closed_loop` measured.
struct loop_result {
  /// Jobs that reported success.
  size_t ok = 0;
  /// Each successful job's time in ms, start to end, in no particular order
  /// (empty unless `loop_shape::record_latencies`).
  std::vector<double> latencies_ms;
  /// From starting the clients to the end of the last job, in ms.
  double wall_ms = 0;
};

namespace detail {

/// One `closed_loop` run; shared by its clients, so it outlives the call.
template <class Job>
struct loop_run {
  loop_run(loop_shape shape_arg, Job job_arg)
    : shape(shape_arg), job(std::move(job_arg)) {}

  loop_shape shape;
  Job job;
  /// The next job index to start (past `total` once all have started).
  std::atomic<size_t> next{0};
  std::atomic<size_t> finished_clients{0};
  std::mutex mtx;
  /// The clients' tallies, merged as each one finishes (guarded by `mtx`).
  loop_result result;
  std::promise<void> done;
};

/// One client's state; touched only by that client's actor.
template <class Job>
struct loop_client {
  loop_client(std::shared_ptr<loop_run<Job>> run_arg,
              caf::event_based_actor* self_arg)
    : run(std::move(run_arg)), self(self_arg) {}

  std::shared_ptr<loop_run<Job>> run;
  caf::event_based_actor* self;
  size_t open = 0;
  size_t ok = 0;
  std::vector<double> latencies_ms;
};

template <class Job>
void loop_finish(const std::shared_ptr<loop_client<Job>>& c) {
  auto& run = *c->run;
  {
    std::lock_guard<std::mutex> guard{run.mtx};
    run.result.ok += c->ok;
    run.result.latencies_ms.insert(run.result.latencies_ms.end(),
                                   c->latencies_ms.begin(),
                                   c->latencies_ms.end());
  }
  c->self->quit();
  if (run.finished_clients.fetch_add(1) + 1 == run.shape.clients)
    run.done.set_value();
}

/// Starts jobs until the client has `per_client` open or none are left;
/// the client finishes once none are left and none are open.
template <class Job>
void loop_fill(const std::shared_ptr<loop_client<Job>>& c) {
  auto& run = *c->run;
  while (c->open < run.shape.per_client) {
    auto i = run.next.fetch_add(1);
    if (i >= run.shape.total) {
      if (c->open == 0)
        loop_finish(c);
      return;
    }
    ++c->open;
    auto t0 = run.shape.record_latencies
                ? std::chrono::steady_clock::now()
                : std::chrono::steady_clock::time_point{};
    run.job(c->self, i, [c, t0](bool ok) {
      if (ok) {
        ++c->ok;
        if (c->run->shape.record_latencies)
          c->latencies_ms.push_back(ms_since(t0));
      }
      --c->open;
      loop_fill(c);
    });
  }
}

} // namespace detail

/// Runs `shape.total` jobs from `shape.clients` actors, each keeping up to
/// `shape.per_client` open, and returns once all have ended.
/// `job(self, i, done)` starts job `i` (each index below `total` once) from
/// the client actor `self`, and the job calls `done(ok)` once when it ends,
/// on that actor (typically from a response handler). Blocks the calling
/// thread, which must not be one of `sys`'s.
template <class Job>
loop_result closed_loop(caf::actor_system& sys, loop_shape shape, Job job) {
  shape.clients = std::max<size_t>(shape.clients, 1);
  shape.per_client = std::max<size_t>(shape.per_client, 1);
  auto run = std::make_shared<detail::loop_run<Job>>(shape, std::move(job));
  auto fut = run->done.get_future();
  auto t0 = std::chrono::steady_clock::now();
  for (size_t k = 0; k < shape.clients; ++k)
    sys.spawn([run](caf::event_based_actor* self) {
      detail::loop_fill(std::make_shared<detail::loop_client<Job>>(run, self));
    });
  fut.wait();
  auto wall = ms_since(t0);
  std::lock_guard<std::mutex> guard{run->mtx};
  auto out = std::move(run->result);
  out.wall_ms = wall;
  return out;
}

} // namespace troupe::bench
