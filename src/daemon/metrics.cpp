#include "daemon/metrics.hpp"

#include <fstream>
#include <map>
#include <mutex>
#include <set>

#include <unistd.h>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace troupe::daemon {

namespace {

/// Most distinct values a client-chosen label (agent, tool) takes in the
/// metrics; the rest count as "other", so a client cannot blow them up.
constexpr size_t max_label_values = 200;

uint64_t rss_bytes() {
  std::ifstream in{"/proc/self/statm"};
  uint64_t pages = 0;
  uint64_t resident = 0;
  in >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

} // namespace

/// Every metric the daemon exports (prometheus-cpp: thread-safe).
struct metrics::families {
  std::shared_ptr<prometheus::Registry> registry =
    std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& requests =
    prometheus::BuildCounter()
      .Name("agent_requests_total")
      .Help("Tasks that ended, by agent and status")
      .Register(*registry);
  prometheus::Family<prometheus::Histogram>& duration =
    prometheus::BuildHistogram()
      .Name("agent_request_duration_seconds")
      .Help("Time from a task's acceptance to its end")
      .Register(*registry);
  prometheus::Gauge& memory_bytes = prometheus::BuildGauge()
                                      .Name("agent_memory_usage_bytes")
                                      .Help("Resident memory of the daemon")
                                      .Register(*registry)
                                      .Add({});
  prometheus::Gauge& active = prometheus::BuildGauge()
                                .Name("agent_active_tasks")
                                .Help("Tasks accepted and not yet ended")
                                .Register(*registry)
                                .Add({});
  prometheus::Gauge& followed = prometheus::BuildGauge()
                                  .Name("troupe_streams_following_elsewhere")
                                  .Help("Event streams following tasks "
                                        "another replica runs")
                                  .Register(*registry)
                                  .Add({});
  prometheus::Family<prometheus::Counter>& leases =
    prometheus::BuildCounter()
      .Name("troupe_task_leases_total")
      .Help("Tasks taken over from a replica whose lease expired "
            "(taken_over) or lost to another replica (fenced)")
      .Register(*registry);
  prometheus::Counter& taken_over = leases.Add({{"event", "taken_over"}});
  prometheus::Counter& fenced = leases.Add({{"event", "fenced"}});
  prometheus::Family<prometheus::Counter>& tools =
    prometheus::BuildCounter()
      .Name("agent_tool_executions_total")
      .Help("Tool calls of ended tasks, by tool and status (ok, error)")
      .Register(*registry);
  prometheus::Family<prometheus::Counter>& restarts =
    prometheus::BuildCounter()
      .Name("troupe_role_restarts_total")
      .Help("Restarts of each supervised role")
      .Register(*registry);
  prometheus::Family<prometheus::Counter>& events =
    prometheus::BuildCounter()
      .Name("troupe_events_total")
      .Help("Engine events by kind (the monitor's counters)")
      .Register(*registry);
  prometheus::Counter& provider_errors =
    prometheus::BuildCounter()
      .Name("troupe_provider_errors_total")
      .Help("Model calls that failed over to the next provider")
      .Register(*registry)
      .Add({});
  prometheus::Family<prometheus::Counter>& http =
    prometheus::BuildCounter()
      .Name("troupe_http_responses_total")
      .Help("HTTP responses by status code")
      .Register(*registry);
  prometheus::Gauge& connections = prometheus::BuildGauge()
                                     .Name("troupe_http_connections_open")
                                     .Help("Open HTTP connections")
                                     .Register(*registry)
                                     .Add({});
  prometheus::Gauge& streams = prometheus::BuildGauge()
                                 .Name("troupe_http_event_streams_open")
                                 .Help("Open task event streams (SSE)")
                                 .Register(*registry)
                                 .Add({});
  prometheus::Family<prometheus::Counter>& tokens =
    prometheus::BuildCounter()
      .Name("troupe_model_tokens_total")
      .Help("Model tokens spent by ended tasks, by provider and kind "
            "(prompt, completion)")
      .Register(*registry);
  prometheus::Family<prometheus::Gauge>& mailbox =
    prometheus::BuildGauge()
      .Name("troupe_role_mailbox_depth")
      .Help("Messages waiting in a role's mailbox, as the role last saw it")
      .Register(*registry);
  prometheus::Counter& pruned =
    prometheus::BuildCounter()
      .Name("troupe_store_pruned_total")
      .Help("Finished tasks removed by retention (store.retention)")
      .Register(*registry)
      .Add({});
  uint64_t last_pruned = 0;
  std::mutex pruned_mutex;
  prometheus::Counter& journal_commits =
    prometheus::BuildCounter()
      .Name("troupe_journal_commits_total")
      .Help("Transactions committed by the task journal")
      .Register(*registry)
      .Add({});

  prometheus::Family<prometheus::Gauge>& pool_connections =
    prometheus::BuildGauge()
      .Name("troupe_store_pool_connections")
      .Help("The store's PostgreSQL connections, by state: open, in_use")
      .Register(*registry);
  prometheus::Gauge& pool_waiting =
    prometheus::BuildGauge()
      .Name("troupe_store_pool_waiting")
      .Help("Store queries waiting for a connection")
      .Register(*registry)
      .Add({});
  prometheus::Gauge& pool_up =
    prometheus::BuildGauge()
      .Name("troupe_store_up")
      .Help("1 while the store's PostgreSQL server is reachable, else 0")
      .Register(*registry)
      .Add({});
  prometheus::Family<prometheus::Counter>& pool_events =
    prometheus::BuildCounter()
      .Name("troupe_store_pool_events_total")
      .Help("The store pool's jobs, by kind: run, failed_fast (the server "
            "was unreachable), reconnect")
      .Register(*registry);
  prometheus::Histogram& pool_latency =
    prometheus::BuildHistogram()
      .Name("troupe_store_query_seconds")
      .Help("Store jobs (queries and transactions) from queued to done")
      .Register(*registry)
      .Add({}, store::latency_bounds());
  store::pg_pool_stats last_pool;

  std::mutex mutex;
  /// Values of the engine's counters at the last scrape (the metrics count
  /// the difference).
  prometheus::Family<prometheus::Counter>& executor =
    prometheus::BuildCounter()
      .Name("troupe_tool_calls_total")
      .Help("Tool calls through the local executor, by kind: calls, failed, "
            "timeouts, cancelled, overloaded, cache_hits, cache_misses")
      .Register(*registry);
  prometheus::Family<prometheus::Gauge>& mcp_up =
    prometheus::BuildGauge()
      .Name("troupe_mcp_server_up")
      .Help("1 while an MCP server is ready, 0 while it is starting, "
            "restarting or failed")
      .Register(*registry);
  std::map<std::string, uint64_t> last_restarts;
  std::map<std::string, uint64_t> last_events;
  std::map<std::string, uint64_t> last_tools;
  prometheus::Family<prometheus::Gauge>& peer_up =
    prometheus::BuildGauge()
      .Name("troupe_peer_up")
      .Help("1 while a node of the cluster is connected, 0 while it is lost")
      .Register(*registry);
  prometheus::Family<prometheus::Gauge>& peer_pending =
    prometheus::BuildGauge()
      .Name("troupe_peer_pending_requests")
      .Help("Requests sent to a node (any role) and not answered yet")
      .Register(*registry);
  prometheus::Family<prometheus::Counter>& peer_received =
    prometheus::BuildCounter()
      .Name("troupe_peer_replies_received_total")
      .Help("Replies a node sent back to this node's requests")
      .Register(*registry);
  prometheus::Family<prometheus::Counter>& peer_lost =
    prometheus::BuildCounter()
      .Name("troupe_peer_lost_total")
      .Help("Times a node of the cluster was lost")
      .Register(*registry);
  prometheus::Family<prometheus::Gauge>& peer_rtt =
    prometheus::BuildGauge()
      .Name("troupe_peer_rtt_seconds")
      .Help("Moving average of a ping's network round trip to a node")
      .Register(*registry);
  prometheus::Family<prometheus::Gauge>& peer_load =
    prometheus::BuildGauge()
      .Name("troupe_peer_load")
      .Help("Messages waiting in a node's role mailboxes, as it last said")
      .Register(*registry);
  prometheus::Family<prometheus::Counter>& peer_sent =
    prometheus::BuildCounter()
      .Name("troupe_peer_requests_sent_total")
      .Help("Requests this node sent to a node (planning, memory, tools)")
      .Register(*registry);
  prometheus::Family<prometheus::Gauge>& role_routes =
    prometheus::BuildGauge()
      .Name("troupe_role_routes")
      .Help("Nodes up offering a role this node leaves to others (0: tasks "
            "that need it fail)")
      .Register(*registry);
  std::map<std::string, uint64_t> last_peer_sent;
  std::map<std::string, uint64_t> last_peer_received;
  std::map<std::string, uint64_t> last_peer_lost;
  /// The peers with series now, to remove those of peers that left.
  std::set<std::string> shown_peers;
  uint64_t last_commits = 0;
  std::set<std::string> agents;
  std::set<std::string> tool_names;

  std::string bounded(std::set<std::string>& seen, const std::string& v) {
    std::lock_guard guard{mutex};
    if (seen.count(v) || seen.size() < max_label_values) {
      seen.insert(v);
      return v;
    }
    return "other";
  }
};

metrics::metrics() : f_(std::make_unique<families>()) {
}

metrics::~metrics() = default;

void metrics::response(int status) {
  f_->http.Add({{"code", std::to_string(status)}}).Increment();
}

void metrics::set_active(size_t n) {
  f_->active.Set(static_cast<double>(n));
}

void metrics::set_followed_elsewhere(size_t n) {
  f_->followed.Set(static_cast<double>(n));
}

void metrics::taken_over(size_t n) {
  f_->taken_over.Increment(static_cast<double>(n));
}

void metrics::fenced() {
  f_->fenced.Increment();
}

void metrics::set_pruned(uint64_t total) {
  std::lock_guard guard{f_->pruned_mutex};
  if (total > f_->last_pruned)
    f_->pruned.Increment(static_cast<double>(total - f_->last_pruned));
  f_->last_pruned = total;
}

void metrics::task_ended(const task_result& r, const std::string& agent,
                         double seconds) {
  auto status = std::string{to_string(r.status)};
  auto& f = *f_;
  auto label = f.bounded(f.agents, agent);
  f.requests.Add({{"agent_name", label}, {"status", status}}).Increment();
  f.duration
    .Add({{"agent_name", label}},
         prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1,
                                                 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                                 60, 120})
    .Observe(seconds);
  if (!r.provider.empty()) {
    f.tokens.Add({{"provider", r.provider}, {"kind", "prompt"}})
      .Increment(static_cast<double>(r.usage.prompt));
    f.tokens.Add({{"provider", r.provider}, {"kind", "completion"}})
      .Increment(static_cast<double>(r.usage.completion));
  }
  for (auto& step : r.steps)
    for (auto& res : step.results)
      f.tools
        .Add({{"tool_name", f.bounded(f.tool_names, res.name)},
              {"status", res.ok ? "ok" : "error"}})
        .Increment();
}

std::string metrics::render(const engine_counters& c, backend* b,
                            uint64_t commits, const http::server* srv,
                            const store::pg_pool_stats* pool) {
  auto& f = *f_;
  {
    std::lock_guard guard{f.mutex};
    for (auto& [role, n] : c.restarts) {
      auto& last = f.last_restarts[role];
      if (n > last)
        f.restarts.Add({{"role", role}}).Increment(static_cast<double>(n - last));
      else
        f.restarts.Add({{"role", role}});
      last = n;
    }
    for (auto& [kind, n] : c.events) {
      auto& last = f.last_events[kind];
      if (n > last) {
        f.events.Add({{"kind", kind}}).Increment(static_cast<double>(n - last));
        if (kind == "provider_fallback")
          f.provider_errors.Increment(static_cast<double>(n - last));
      }
      last = n;
    }
    for (auto& [role, n] : c.mailbox_depths)
      f.mailbox.Add({{"role", role}}).Set(static_cast<double>(n));
    for (auto& [kind, n] : c.tools) {
      auto& last = f.last_tools[kind];
      auto& counter = f.executor.Add({{"kind", kind}});
      if (n > last)
        counter.Increment(static_cast<double>(n - last));
      last = n;
    }
    for (auto& [server, up] : c.mcp_up)
      f.mcp_up.Add({{"server", server}}).Set(up);
    if (b) {
      for (auto& [role, n] : b->routes())
        f.role_routes.Add({{"role", role}}).Set(static_cast<double>(n));
      std::set<std::string> now_peers;
      for (auto& n : b->peers()) {
        if (n.state == "self")
          continue;
        prometheus::Labels l{{"peer", n.name}};
        f.peer_up.Add(l).Set(n.state == "up" ? 1 : 0);
        f.peer_pending.Add(l).Set(static_cast<double>(n.pending));
        f.peer_rtt.Add(l).Set(n.rtt_us / 1e6);
        f.peer_load.Add(l).Set(static_cast<double>(n.load));
        auto bump = [](prometheus::Counter& c, uint64_t& last, uint64_t n) {
          if (n > last)
            c.Increment(static_cast<double>(n - last));
          last = n;
        };
        bump(f.peer_sent.Add(l), f.last_peer_sent[n.name], n.sent);
        bump(f.peer_received.Add(l), f.last_peer_received[n.name],
             n.received);
        bump(f.peer_lost.Add(l), f.last_peer_lost[n.name], n.lost);
        now_peers.insert(n.name);
      }
      // A peer no longer known (a client that left): its series go, so
      // they neither stay stale nor pile up.
      for (auto& name : f.shown_peers)
        if (!now_peers.count(name)) {
          prometheus::Labels l{{"peer", name}};
          f.peer_up.Remove(&f.peer_up.Add(l));
          f.peer_pending.Remove(&f.peer_pending.Add(l));
          f.peer_rtt.Remove(&f.peer_rtt.Add(l));
          f.peer_load.Remove(&f.peer_load.Add(l));
          f.peer_sent.Remove(&f.peer_sent.Add(l));
          f.peer_received.Remove(&f.peer_received.Add(l));
          f.peer_lost.Remove(&f.peer_lost.Add(l));
          f.last_peer_sent.erase(name);
          f.last_peer_received.erase(name);
          f.last_peer_lost.erase(name);
        }
      f.shown_peers = std::move(now_peers);
    }
    if (commits > f.last_commits)
      f.journal_commits.Increment(static_cast<double>(commits - f.last_commits));
    f.last_commits = commits;
    if (pool) {
      auto& last = f.last_pool;
      f.pool_connections.Add({{"state", "open"}}).Set(pool->open);
      f.pool_connections.Add({{"state", "in_use"}}).Set(pool->in_use);
      f.pool_waiting.Set(static_cast<double>(pool->waiting));
      f.pool_up.Set(pool->up ? 1 : 0);
      auto add = [&](const char* kind, uint64_t now, uint64_t before) {
        f.pool_events.Add({{"kind", kind}})
          .Increment(static_cast<double>(now > before ? now - before : 0));
      };
      add("run", pool->jobs, last.jobs);
      add("failed_fast", pool->failed_fast, last.failed_fast);
      add("reconnect", pool->reconnects, last.reconnects);
      if (last.latency_counts.size() != pool->latency_counts.size())
        last.latency_counts.assign(pool->latency_counts.size(), 0);
      std::vector<double> delta;
      for (size_t i = 0; i < pool->latency_counts.size(); ++i)
        delta.push_back(static_cast<double>(pool->latency_counts[i] -
                                            last.latency_counts[i]));
      f.pool_latency.ObserveMultiple(delta, pool->latency_sum - last.latency_sum);
      last = *pool;
    }
  }
  f.memory_bytes.Set(static_cast<double>(rss_bytes()));
  if (srv) {
    auto st = srv->stats();
    f.connections.Set(static_cast<double>(st.connections_open));
    f.streams.Set(static_cast<double>(st.streams_open));
  }
  return prometheus::TextSerializer{}.Serialize(f.registry->Collect());
}

} // namespace troupe::daemon
