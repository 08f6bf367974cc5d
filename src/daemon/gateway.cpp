// The daemon's CAF side: each outside request becomes a short-lived actor
// that asks the engine and hands the answer to a callback, so no thread
// ever blocks on an actor. A task's actor is also its observer: it hears
// each finished step and passes it on.

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <mutex>
#include <unordered_map>

#include "actors/engine.hpp"
#include "actors/tool_executor.hpp"
#include "daemon/backend.hpp"
#include "daemon/model_call.hpp"

namespace troupe::daemon {

namespace {

task_result failed_result(uint64_t id, const caf::error& err,
                          const guardrail::rules_holder& rules) {
  task_result r;
  r.id = id;
  r.status = code_of(err) == errc::cancelled ? task_status::cancelled
                                              : task_status::failed;
  r.answer = rules.current().output->scrub(describe(err));
  r.error_code = to_string(code_of(err));
  return r;
}

/// The task clients alive, so the backend can stop them when it goes (a
/// runner stopped with the engine may never answer its client).
struct client_set {
  std::mutex mutex;
  std::unordered_map<caf::actor_id, caf::actor> clients;
};

caf::behavior task_client(caf::event_based_actor* self, task_actor tasks,
                          std::shared_ptr<const guardrail::rules_holder> rules,
                          task_request req,
                          std::shared_ptr<backend_events> events,
                          std::shared_ptr<client_set> set) {
  {
    std::lock_guard guard{set->mutex};
    set->clients.emplace(self->id(), caf::actor_cast<caf::actor>(self));
  }
  self->attach_functor([set, id = self->id()] {
    std::lock_guard guard{set->mutex};
    set->clients.erase(id);
  });
  auto id = req.id;
  self
    ->request(tasks, caf::infinite, run_atom::value, std::move(req),
              caf::actor_cast<caf::actor>(self))
    .then(
      [=](task_result& r) {
        events->on_result(r);
        self->quit();
      },
      [=](caf::error& err) {
        events->on_result(failed_result(id, err, *rules));
        self->quit();
      });
  return {
    [=](began_atom, uint64_t task_id, uint64_t index, const step_record& step) {
      events->on_step_started(task_id, index, step);
    },
    [=](step_atom, uint64_t task_id, uint64_t index, const step_record& step) {
      events->on_step(task_id, index, step);
    },
    [=](token_atom, uint64_t task_id, std::string& delta) {
      events->on_token(task_id, std::move(delta));
    },
  };
}

class caf_backend : public backend {
public:
  caf_backend(caf::actor_system& sys, engine& eng,
              std::shared_ptr<backend_events> events)
    : sys_(sys), eng_(eng), events_(std::move(events)) {}

  ~caf_backend() override {
    std::lock_guard guard{clients_->mutex};
    for (auto& [id, client] : clients_->clients)
      caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  }

  void run(task_request req) override {
    sys_.spawn(task_client, eng_.tasks(), eng_.rules(), std::move(req),
               events_, clients_);
  }

  void cancel(uint64_t id, std::function<void(bool)> done) override {
    auto tasks = eng_.tasks();
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(tasks, caf::infinite, cancel_atom::value, id)
        .then([=](bool found) { done(found); },
              [=](caf::error&) { done(false); });
    });
  }

  void memory_call(tool_invocation inv,
                   std::function<void(tool_result)> done) override {
    auto memory = eng_.memory();
    // What memory hands out passes the output filter: memories stored
    // before redaction was on, or with it off, are masked on the way out.
    auto filter = eng_.rules()->current().output;
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(memory, caf::infinite, call_atom::value, inv)
        .then(
          [=](tool_result& r) {
            r.output = filter->scrub_json(r.output);
            done(std::move(r));
          },
          [=](caf::error& err) {
            tool_result r;
            r.call_id = inv.call.id;
            r.name = inv.call.name;
            r.output =
              error_json({code_of(err), filter->scrub(describe(err))});
            done(std::move(r));
          });
    });
  }

  void complete(const std::string& agent, uint64_t task_id,
                std::vector<chat_message> messages,
                std::function<void(result<std::string>)> done) override {
    tool_free_completion(sys_, eng_, agent, task_id, std::move(messages),
                         std::move(done));
  }

  void counters(std::function<void(engine_counters)> done) override {
    auto monitor = eng_.monitor();
    engine_counters base;
    base.mailbox_depths = eng_.mailbox_depths();
    if (auto& setup = eng_.tool_setup()) {
      auto& c = *setup->counters;
      base.tools = {{"calls", c.calls.load()},
                    {"failed", c.failed.load()},
                    {"timeouts", c.timeouts.load()},
                    {"cancelled", c.cancelled.load()},
                    {"overloaded", c.overloaded.load()}};
      if (setup->cache) {
        auto st = setup->cache->stats();
        base.tools["cache_hits"] = st.hits;
        base.tools["cache_misses"] = st.misses;
      }
    }
    for (auto& st : eng_.mcp_status())
      base.mcp_up[st.name] = st.state == mcp::server_state::ready ? 1 : 0;
    sys_.spawn([=](caf::event_based_actor* self) {
      self->request(monitor, caf::infinite, stats_atom::value)
        .then(
          [=](monitor_stats& st) {
            auto out = base;
            out.restarts.insert(st.restarts.begin(), st.restarts.end());
            for (size_t i = 0; i < st.counts.size(); ++i)
              out.events[to_string(static_cast<event_kind>(i))] = st.counts[i];
            done(std::move(out));
          },
          [=](caf::error&) { done(base); });
    });
  }

  std::shared_ptr<const agents::catalog> agents() const override {
    return eng_.agents();
  }

  std::string not_ready() const override {
    if (auto why = eng_.gave_up())
      return "the engine stopped: " + *why;
    for (auto& row : eng_.supervision())
      if (row.state != "running")
        return "role '" + row.name + "' is " + row.state;
    // Roles on other nodes: ready while each has a node up that offers it.
    if (nodes_)
      for (auto& [role, n] : nodes_->routes())
        if (n == 0)
          return "no route for the " + role + " role: no node offering it "
                 "is up";
    return {};
  }

  std::vector<tool_spec> tools() const override {
    return eng_.tool_specs();
  }

  std::vector<cluster::peer_status> peers() const override {
    return nodes_ ? nodes_->snapshot() : std::vector<cluster::peer_status>{};
  }

  std::map<std::string, size_t> routes() const override {
    return nodes_ ? nodes_->routes() : std::map<std::string, size_t>{};
  }

private:
  caf::actor_system& sys_;
  engine& eng_;
  std::shared_ptr<backend_events> events_;
  std::shared_ptr<client_set> clients_ = std::make_shared<client_set>();
  std::shared_ptr<cluster::cluster_view> nodes_;

public:
  void set_nodes(std::shared_ptr<cluster::cluster_view> x) {
    nodes_ = std::move(x);
  }
};

} // namespace

void tool_free_completion(caf::actor_system& sys, const engine& eng,
                          const std::string& agent, uint64_t task_id,
                          std::vector<chat_message> messages,
                          std::function<void(result<std::string>)> done) {
  auto known = eng.agents();
  auto a = known->find(agent);
  if (!a)
    return done(failure{errc::invalid_input, agents::unknown_agent(agent, *known)});
  auto planner = eng.planner(task_id);
  auto filter = eng.rules()->current().output;
  auto req = tool_free_request(*a, task_id, std::move(messages));
  auto timeout = a->timeout;
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(planner, timeout, plan_atom::value, req)
      .then(
        [=](chat_response& r) {
          if (!r.tool_calls.empty() || r.content.empty())
            return done(failure{errc::provider_failed,
                                "the model answered with no text"});
          done(filter->scrub(r.content));
        },
        [=](caf::error& err) {
          done(failure{code_of(err), filter->scrub(describe(err))});
        });
  });
}

std::unique_ptr<backend> make_backend(caf::actor_system& sys, engine& eng,
                                      std::shared_ptr<backend_events> events,
                                      std::shared_ptr<cluster::cluster_view>
                                        nodes) {
  auto out = std::make_unique<caf_backend>(sys, eng, std::move(events));
  out->set_nodes(std::move(nodes));
  return out;
}

} // namespace troupe::daemon
