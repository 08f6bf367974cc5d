#include "actors/fail_fast.hpp"

#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <catch2/catch.hpp>

#include "support/actors.hpp"

using namespace troupe;
using namespace std::chrono_literals;

namespace {

caf::behavior fragile(caf::event_based_actor* self) {
  answer_on_crash(self, "fragile");
  return {
    [](stats_atom) -> int { throw std::runtime_error("boom"); },
  };
}

} // namespace

TEST_CASE("a role that crashes answers the request it was handling",
          "[actors][supervisor]") {
  test::system_fixture fx;
  auto a = fx.sys().spawn(fragile);
  // The deadline is far away: the answer must come from the crash itself.
  auto r = test::ask<caf::actor, int>(fx.sys(), a, 60s, stats_atom::value);
  REQUIRE(r.error);
  CHECK(code_of(r.error) == errc::role_down);
  CHECK(describe(r.error) == "role 'fragile' crashed: boom");
}

namespace {

struct depth_probe {
  std::mutex m;
  std::condition_variable cv;
  bool released = false;
  std::vector<uint64_t> seen;
};

/// Notes its mailbox depth on every message; the first waits until the
/// test has queued the rest behind it.
caf::behavior depth_role(caf::event_based_actor* self,
                         std::shared_ptr<depth_probe> p, fault_spec spec) {
  auto faults = std::make_shared<fault_injector>("probe", spec);
  return {
    [=](stats_atom) -> caf::result<int> {
      if (auto r = inject_fault<int>(self, *faults))
        return std::move(*r);
      std::unique_lock lock{p->m};
      p->seen.push_back(spec.depth_gauge->load());
      p->cv.notify_all();
      p->cv.wait(lock, [&] { return p->released; });
      return 0;
    },
  };
}

} // namespace

TEST_CASE("a role reports how many messages wait in its mailbox",
          "[actors][supervisor]") {
  test::system_fixture fx;
  role_gauges gauges;
  fault_spec spec;
  spec.depth_gauge = gauges.depth("probe");
  auto p = std::make_shared<depth_probe>();
  auto a = fx.sys().spawn(depth_role, p, spec);
  caf::anon_send(a, stats_atom::value);
  {
    // The first message is being handled: queue ten behind it.
    std::unique_lock lock{p->m};
    REQUIRE(p->cv.wait_for(lock, 10s, [&] { return p->seen.size() == 1; }));
  }
  for (int i = 0; i < 10; ++i)
    caf::anon_send(a, stats_atom::value);
  {
    std::unique_lock lock{p->m};
    p->released = true;
    p->cv.notify_all();
    REQUIRE(p->cv.wait_for(lock, 10s, [&] { return p->seen.size() == 11; }));
  }
  CHECK(p->seen[1] == 9); // nine wait behind the second
  CHECK(p->seen.back() == 0);
  CHECK(gauges.snapshot() == std::map<std::string, uint64_t>{{"probe", 0}});
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}
