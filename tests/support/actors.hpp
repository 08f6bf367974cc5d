#pragma once

// Test support: an actor system with Troupe's types, and a blocking task call
// with a deadline (tests only; the engine itself never blocks on actors).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/engine.hpp"
#include "actors/protocol.hpp"
#include "config/config.hpp"

namespace troupe::test {

/// An actor system configured like the CLI's (optionally with networking).
class system_fixture {
public:
  explicit system_fixture(bool network = false);

  /// With the network layer as `cfg.cluster` sets it (heartbeats, TLS).
  explicit system_fixture(const engine_config& cfg);
  ~system_fixture();

  caf::actor_system& sys() {
    return *sys_;
  }

private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
};

/// The outcome of a request: a value or the error it failed with.
template <class T>
struct reply {
  std::optional<T> value;
  caf::error error;
};

/// Asks `h` and waits for the answer, at most `deadline`.
template <class Handle, class T, class... Ts>
reply<T> ask(caf::actor_system& sys, const Handle& h,
             std::chrono::milliseconds deadline, Ts&&... xs) {
  reply<T> out;
  caf::scoped_actor self{sys};
  self->request(h, deadline, std::forward<Ts>(xs)...)
    .receive([&](T& x) { out.value = std::move(x); },
             [&](caf::error& e) { out.error = std::move(e); });
  return out;
}

/// Runs `text` as a task on `eng` (session `session`), 10 s deadline.
reply<task_result> run_task(caf::actor_system& sys, const engine& eng,
                            const std::string& text,
                            const std::string& session = "test");

/// Polls `pred` until it holds or `deadline` passes; returns whether it
/// held. For state the engine publishes outside any message the test can
/// wait on (the role directory, the supervision tree).
template <class Pred>
bool wait_until(Pred pred,
                std::chrono::milliseconds deadline = std::chrono::seconds{10}) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::yield();
  }
  return true;
}

/// An engine config whose workspace is the current directory.
engine_config test_config();

} // namespace troupe::test
