// Supervisors through real actors: strategies, restart types, intensity and
// escalation, shutdown order and timeouts. Every wait has a deadline.

#include "actors/supervisor.hpp"

#include <condition_variable>
#include <map>
#include <mutex>

#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include <catch2/catch.hpp>

#include "support/actors.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

using quit_atom = caf::atom_constant<caf::atom("quit")>;

/// What the children did, in order, plus their current handles.
struct probe {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::string> events;
  std::map<std::string, caf::actor> handles;

  void record(std::string x) {
    std::lock_guard<std::mutex> guard{mtx};
    events.push_back(std::move(x));
    cv.notify_all();
  }

  size_t count(const std::string& x) {
    std::lock_guard<std::mutex> guard{mtx};
    return static_cast<size_t>(std::count(events.begin(), events.end(), x));
  }

  /// Waits until `pred(events)` holds, at most 10 s.
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, 10s, [&] { return pred(events); });
  }

  caf::actor handle(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx};
    return handles[name];
  }

  /// Events after the first `n`.
  std::vector<std::string> since(size_t n) {
    std::lock_guard<std::mutex> guard{mtx};
    return {events.begin() + static_cast<long>(n), events.end()};
  }

  size_t size() {
    std::lock_guard<std::mutex> guard{mtx};
    return events.size();
  }
};

/// A child that records its stop; `stubborn` ignores exit messages (it must
/// be killed after its shutdown timeout). Starts are recorded when the
/// supervisor has spawned the child (see sup_fixture): its mailbox exists
/// from then on, while its first run is up to the scheduler.
caf::behavior worker(caf::event_based_actor* self, std::string name,
                     std::shared_ptr<probe> p, bool stubborn) {
  self->attach_functor(
    [p, name](const caf::error&) { p->record("stop:" + name); });
  if (stubborn)
    self->set_exit_handler([](caf::exit_msg&) {});
  return {
    [=](quit_atom) { self->quit(); },
  };
}

child_spec child(const std::string& name, std::shared_ptr<probe> p,
                 restart_type restart = restart_type::permanent,
                 bool stubborn = false) {
  child_spec c;
  c.name = name;
  c.restart = restart;
  c.shutdown = 200ms;
  c.start = [=](caf::local_actor* sup) {
    return sup->spawn(worker, name, p, stubborn);
  };
  return c;
}

struct sup_fixture {
  test::system_fixture fx;
  std::shared_ptr<probe> p = std::make_shared<probe>();
  caf::actor sup;

  caf::actor start(supervisor_spec spec) {
    auto pr = p;
    // The start is recorded with the new handle, under one lock, so a test
    // that saw "start:x" also sees x's new handle.
    supervisor_hooks hooks{
      [pr](const std::string& name, const caf::actor& h) {
        std::lock_guard<std::mutex> guard{pr->mtx};
        pr->handles[name] = h;
        pr->events.push_back("start:" + name);
        pr->cv.notify_all();
      }};
    sup = fx.sys().spawn(supervisor, std::move(spec), std::move(hooks));
    return sup;
  }

  void crash(const std::string& name) {
    // An abnormal reason, as an uncaught exception would give.
    caf::anon_send_exit(p->handle(name), caf::exit_reason::unhandled_exception);
  }

  ~sup_fixture() {
    if (sup)
      caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  }
};

supervisor_spec spec_of(restart_strategy s, std::shared_ptr<probe> p) {
  supervisor_spec spec;
  spec.name = "test";
  spec.strategy = s;
  spec.intensity = 10;
  spec.children = {child("a", p), child("b", p), child("c", p)};
  return spec;
}

bool ends_with(const std::vector<std::string>& xs,
               const std::vector<std::string>& tail) {
  return xs.size() >= tail.size() &&
         std::equal(tail.begin(), tail.end(), xs.end() - tail.size());
}

} // namespace

TEST_CASE("children start in order", "[actors][supervisor]") {
  sup_fixture f;
  f.start(spec_of(restart_strategy::one_for_one, f.p));
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 3; }));
  CHECK(f.p->since(0) ==
        std::vector<std::string>{"start:a", "start:b", "start:c"});
}

TEST_CASE("one_for_one restarts only the failed child",
          "[actors][supervisor]") {
  sup_fixture f;
  f.start(spec_of(restart_strategy::one_for_one, f.p));
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 3; }));
  auto old = f.p->handle("b");
  f.crash("b");
  REQUIRE(f.p->wait(
    [](auto& ev) { return std::count(ev.begin(), ev.end(), "start:b") == 2; }));
  CHECK(f.p->since(3) == std::vector<std::string>{"stop:b", "start:b"});
  CHECK(f.p->handle("b") != old);
  auto status = test::ask<caf::actor, std::vector<child_status>>(
    f.fx.sys(), f.sup, 5s, status_atom::value);
  REQUIRE(status.value);
  REQUIRE(status.value->size() == 3);
  CHECK((*status.value)[1].restarts == 1);
  CHECK((*status.value)[0].restarts == 0);
  CHECK((*status.value)[1].running);
}

TEST_CASE("one_for_all stops the others in reverse order, then restarts all",
          "[actors][supervisor]") {
  sup_fixture f;
  f.start(spec_of(restart_strategy::one_for_all, f.p));
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 3; }));
  f.crash("b");
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 9; }));
  CHECK(f.p->since(3) == std::vector<std::string>{"stop:b", "stop:c", "stop:a",
                                                  "start:a", "start:b",
                                                  "start:c"});
}

TEST_CASE("rest_for_one restarts the failed child and those after it",
          "[actors][supervisor]") {
  sup_fixture f;
  f.start(spec_of(restart_strategy::rest_for_one, f.p));
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 3; }));
  f.crash("b");
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 7; }));
  CHECK(f.p->since(3) ==
        std::vector<std::string>{"stop:b", "stop:c", "start:b", "start:c"});
  CHECK(f.p->count("start:a") == 1);
}

TEST_CASE("transient children restart only after a crash; temporary never",
          "[actors][supervisor]") {
  sup_fixture f;
  supervisor_spec spec;
  spec.children = {child("t", f.p, restart_type::transient),
                   child("tmp", f.p, restart_type::temporary),
                   child("marker", f.p)};
  f.start(spec);
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 3; }));
  // A normal end of a transient child: it stays down.
  caf::anon_send(f.p->handle("t"), quit_atom::value);
  REQUIRE(f.p->wait([](auto& ev) { return ends_with(ev, {"stop:t"}); }));
  // A crash of a temporary child: it stays down too.
  f.crash("tmp");
  REQUIRE(f.p->wait([](auto& ev) { return ends_with(ev, {"stop:tmp"}); }));
  // A down message and our status request come from different senders, so
  // ask until the supervisor has seen both downs (with a deadline). With no
  // backoff a restart would happen in the same step, so "not running" also
  // means "not restarted".
  std::vector<child_status> status;
  auto until = std::chrono::steady_clock::now() + 10s;
  do {
    auto r = test::ask<caf::actor, std::vector<child_status>>(
      f.fx.sys(), f.sup, 5s, status_atom::value);
    REQUIRE(r.value);
    status = *r.value;
  } while ((status[0].running || status[1].running) &&
           std::chrono::steady_clock::now() < until);
  CHECK_FALSE(status[0].running);
  CHECK_FALSE(status[1].running);
  CHECK(status[2].running);
  CHECK(f.p->count("start:t") == 1);
  CHECK(f.p->count("start:tmp") == 1);
}

TEST_CASE("past its intensity a supervisor stops its children and escalates",
          "[actors][supervisor]") {
  sup_fixture f;
  auto spec = spec_of(restart_strategy::one_for_one, f.p);
  spec.intensity = 2;
  spec.period = 60s;
  auto sup = f.start(spec);
  caf::scoped_actor self{f.fx.sys()};
  self->monitor(sup);
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 3; }));
  for (size_t n = 1; n <= 2; ++n) {
    f.crash("a");
    REQUIRE(f.p->wait([n](auto& ev) {
      return static_cast<size_t>(std::count(ev.begin(), ev.end(), "start:a")) ==
             n + 1;
    }));
  }
  f.crash("a");
  caf::error reason;
  self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                caf::after(10s) >> [] {});
  REQUIRE(reason);
  CHECK(describe(reason).find("gave up") != std::string::npos);
  CHECK(describe(reason).find("'a'") != std::string::npos);
  // The others were stopped in reverse order before it went.
  CHECK(ends_with(f.p->since(0), {"stop:a", "stop:c", "stop:b"}));
  f.sup = nullptr;
}

TEST_CASE("shutdown goes in reverse order and kills a child that ignores it",
          "[actors][supervisor]") {
  sup_fixture f;
  supervisor_spec spec;
  spec.children = {child("a", f.p),
                   child("stubborn", f.p, restart_type::permanent, true),
                   child("c", f.p)};
  auto sup = f.start(spec);
  REQUIRE(f.p->wait([](auto& ev) { return ev.size() >= 3; }));
  caf::scoped_actor self{f.fx.sys()};
  self->monitor(sup);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(10s) >> [] {});
  REQUIRE(down);
  CHECK(f.p->since(3) ==
        std::vector<std::string>{"stop:c", "stop:stubborn", "stop:a"});
  f.sup = nullptr;
}

TEST_CASE("supervisor specs are validated", "[actors][supervisor]") {
  auto p = std::make_shared<probe>();
  supervisor_spec spec;
  spec.name = "root";
  spec.children = {child("a", p), child("a", p)};
  auto dup = validate(spec);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().message ==
        "supervisor 'root': child name 'a' is used twice");
  spec.children = {child("a", p)};
  spec.children[0].start = nullptr;
  CHECK_FALSE(validate(spec));
  spec.children = {child("a", p)};
  spec.period = 0ms;
  CHECK_FALSE(validate(spec));
  spec.period = 1s;
  CHECK(validate(spec));
}

// -- deterministic: CAF's test coordinator runs every actor in this thread
// and its clock only moves when the test says so, so timing cannot decide.

namespace {

struct det_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<probe> p = std::make_shared<probe>();
  caf::actor sup;

  det_fixture() {
    register_types(cfg);
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }

  void start(supervisor_spec spec) {
    auto pr = p;
    supervisor_hooks hooks{[pr](const std::string& name, const caf::actor& h) {
      pr->handles[name] = h;
      pr->events.push_back("start:" + name);
    }};
    hooks.on_status = [pr](const child_status& x) {
      pr->events.push_back(x.state + ":" + x.name);
    };
    sup = sys->spawn(supervisor, std::move(spec), std::move(hooks));
    sched->run();
  }

  /// Moves the clock by `d` and runs everything that became due.
  void advance(caf::timespan d) {
    sched->advance_time(d);
    sched->run();
  }

  ~det_fixture() {
    // The system waits for every actor when it goes: stop the tree the
    // regular way, firing its kill timers, until nothing is left to do.
    if (sup)
      caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    for (int i = 0; i < 100; ++i) {
      sched->run();
      if (!sched->trigger_timeout())
        break;
    }
  }
};

} // namespace

TEST_CASE("a restart waits exactly its backoff (deterministic clock)",
          "[actors][supervisor][deterministic]") {
  det_fixture f;
  supervisor_spec spec;
  spec.name = "det";
  spec.backoff = 10s;
  spec.children = {child("a", f.p)};
  f.start(spec);
  REQUIRE(f.p->count("start:a") == 1);
  caf::anon_send_exit(f.p->handles["a"], caf::exit_reason::unhandled_exception);
  f.sched->run();
  CHECK(f.p->count("restarting:a") == 1);
  f.advance(9999ms);
  CHECK(f.p->count("start:a") == 1);
  f.advance(1ms);
  CHECK(f.p->count("start:a") == 2);
  CHECK(f.p->events.back() == "start:a");
}

TEST_CASE("a child that ignores shutdown is killed at its timeout "
          "(deterministic clock)",
          "[actors][supervisor][deterministic]") {
  det_fixture f;
  supervisor_spec spec;
  spec.name = "det";
  spec.children = {child("a", f.p),
                   child("stubborn", f.p, restart_type::permanent, true)};
  spec.children[1].shutdown = 30s;
  f.start(spec);
  caf::anon_send_exit(f.sup, caf::exit_reason::user_shutdown);
  f.sched->run();
  // Reverse order: the stubborn child is asked first and holds up the rest.
  CHECK(f.p->count("stop:stubborn") == 0);
  CHECK(f.p->count("stop:a") == 0);
  f.advance(29s);
  CHECK(f.p->count("stop:stubborn") == 0);
  f.advance(1s);
  CHECK(f.p->count("stop:stubborn") == 1);
  CHECK(f.p->count("stop:a") == 1);
  std::vector<std::string> stops;
  for (auto& e : f.p->since(0))
    if (e.rfind("stop:", 0) == 0)
      stops.push_back(e);
  CHECK(stops == std::vector<std::string>{"stop:stubborn", "stop:a"});
  f.sup = nullptr;
}

TEST_CASE("intensity counts restarts within the period only",
          "[actors][supervisor][deterministic]") {
  det_fixture f;
  supervisor_spec spec;
  spec.name = "det";
  spec.intensity = 2;
  spec.period = 60s;
  spec.children = {child("a", f.p)};
  f.start(spec);
  for (int i = 0; i < 2; ++i) {
    caf::anon_send_exit(f.p->handles["a"],
                        caf::exit_reason::unhandled_exception);
    f.sched->run();
  }
  CHECK(f.p->count("start:a") == 3);
  // The third crash within the period is one too many.
  caf::anon_send_exit(f.p->handles["a"], caf::exit_reason::unhandled_exception);
  f.sched->run();
  CHECK(f.p->count("start:a") == 3);
  CHECK(f.p->count("stopped:a") == 1);
  f.sup = nullptr;
}
