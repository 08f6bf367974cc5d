// The daemon's metrics on their own: counters count the differences of the
// engine's totals, client-chosen labels stay bounded, and a peer that left
// takes its series with it.

#include "daemon/metrics.hpp"

#include <catch2/catch.hpp>

using namespace troupe;
using namespace troupe::daemon;

namespace {

/// A backend that only has a cluster view (what `metrics::render` reads).
class cluster_only : public backend {
public:
  std::vector<cluster::peer_status> nodes;
  std::map<std::string, size_t> role_routes;

  void run(task_request) override {
  }
  void cancel(uint64_t, std::function<void(bool)> done) override {
    done(false);
  }
  void memory_call(tool_invocation, std::function<void(tool_result)>) override {
  }
  void counters(std::function<void(engine_counters)> done) override {
    done({});
  }
  std::string not_ready() const override {
    return {};
  }
  std::vector<tool_spec> tools() const override {
    return {};
  }
  std::shared_ptr<const agents::catalog> agents() const override {
    return nullptr;
  }
  std::vector<cluster::peer_status> peers() const override {
    return nodes;
  }
  std::map<std::string, size_t> routes() const override {
    return role_routes;
  }
};

cluster::peer_status peer(std::string name, std::string state, uint64_t sent) {
  cluster::peer_status p;
  p.name = std::move(name);
  p.state = std::move(state);
  p.sent = sent;
  return p;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

} // namespace

TEST_CASE("metrics count the differences of the engine's totals",
          "[daemon][metrics]") {
  metrics m;
  engine_counters c;
  c.restarts["planner"] = 2;
  c.events["provider_fallback"] = 1;
  m.render(c, nullptr, 0, nullptr);
  c.restarts["planner"] = 5;
  c.events["provider_fallback"] = 3;
  m.render(c, nullptr, 0, nullptr);
  m.render(c, nullptr, 0, nullptr);
  auto text = m.render({}, nullptr, 0, nullptr);
  CHECK(has(text, "troupe_role_restarts_total{role=\"planner\"} 5\n"));
  CHECK(has(text, "troupe_events_total{kind=\"provider_fallback\"} 3\n"));
  CHECK(has(text, "troupe_provider_errors_total 3\n"));
}

TEST_CASE("metrics count responses and ended tasks, with bounded agent "
          "labels",
          "[daemon][metrics]") {
  metrics m;
  m.response(404);
  m.response(404);
  m.set_active(3);
  task_result r;
  r.status = task_status::completed;
  for (int i = 0; i <= 200; ++i)
    m.task_ended(r, "agent" + std::to_string(i), 0.001);
  auto text = m.render({}, nullptr, 0, nullptr);
  CHECK(has(text, "troupe_http_responses_total{code=\"404\"} 2\n"));
  CHECK(has(text, "agent_active_tasks 3\n"));
  CHECK(has(text, "agent_requests_total{agent_name=\"agent199\","
                  "status=\"completed\"} 1\n"));
  // The 201st name counts as "other".
  CHECK_FALSE(has(text, "agent_name=\"agent200\""));
  CHECK(has(text, "agent_requests_total{agent_name=\"other\","
                  "status=\"completed\"} 1\n"));
}

TEST_CASE("the series of a peer that left go", "[daemon][metrics]") {
  metrics m;
  cluster_only b;
  b.nodes = {peer("a", "self", 0), peer("b", "up", 4)};
  b.role_routes["tools"] = 1;
  m.render({}, &b, 0, nullptr);
  auto text = m.render({}, nullptr, 0, nullptr);
  CHECK(has(text, "troupe_peer_up{peer=\"b\"} 1\n"));
  CHECK(has(text, "troupe_peer_requests_sent_total{peer=\"b\"} 4\n"));
  CHECK(has(text, "troupe_role_routes{role=\"tools\"} 1\n"));
  // This node has no series of its own.
  CHECK_FALSE(has(text, "peer=\"a\""));

  b.nodes = {peer("a", "self", 0)};
  b.role_routes["tools"] = 0;
  m.render({}, &b, 0, nullptr);
  text = m.render({}, nullptr, 0, nullptr);
  CHECK_FALSE(has(text, "peer=\"b\""));
  CHECK(has(text, "troupe_role_routes{role=\"tools\"} 0\n"));
}
