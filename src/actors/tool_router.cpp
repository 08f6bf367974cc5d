#include "actors/tool_router.hpp"

#include <algorithm>

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/system_messages.hpp>
#include <spdlog/spdlog.h>

#include "core/log.hpp"

#include "actors/tool_executor.hpp"

namespace troupe {

namespace {

using router_ptr = tool_executor_actor::stateful_pointer<tool_router_state>;

/// The longest wait between reconnection attempts.
constexpr auto max_backoff = std::chrono::milliseconds{5000};

std::string where_of(const routed_node& n) {
  return n.host + ":" + std::to_string(n.port);
}

void publish_view(router_ptr self) {
  auto& st = self->state;
  if (!st.view)
    return;
  std::vector<tool_node_status> xs;
  for (auto& n : st.nodes)
    xs.push_back(n.status);
  st.view->set(std::move(xs));
}

/// Mirrors node `i`'s per-call counters into the view: atomics, no lock
/// and no copy on the call path.
void count(router_ptr self, size_t i) {
  auto& st = self->state;
  if (!st.view)
    return;
  auto& s = st.nodes[i].status;
  auto& c = st.view->at(i);
  c.pending.store(s.pending, std::memory_order_relaxed);
  c.sent.store(s.sent, std::memory_order_relaxed);
  c.served.store(s.served, std::memory_order_relaxed);
  c.rtt_us.store(s.rtt_us, std::memory_order_relaxed);
}

void schedule_reconnect(router_ptr self) {
  auto& st = self->state;
  if (st.ticking)
    return;
  st.ticking = true;
  auto wait = max_backoff;
  for (auto& n : st.nodes)
    if (!n.status.up)
      wait = std::min(wait, n.backoff);
  self->delayed_send(self, wait, tick_atom::value);
}

/// Takes node `i` out (lost, or never reached) and plans its reconnection.
void lose(router_ptr self, size_t i, std::string why) {
  auto& n = self->state.nodes[i];
  if (n.status.up)
    ++n.status.lost;
  n.status.up = false;
  n.status.last_error = std::move(why);
  n.remote = nullptr;
  if (n.front)
    caf::anon_send_exit(n.front, caf::exit_reason::user_shutdown);
  n.front = nullptr;
  publish_view(self);
  schedule_reconnect(self);
}

/// Node `i` is (again) reachable through `remote`.
void join(router_ptr self, size_t i, tool_executor_actor remote) {
  auto& st = self->state;
  auto& n = st.nodes[i];
  if (n.status.lost > 0 || !n.status.last_error.empty())
    ++n.status.rejoined;
  n.remote = remote;
  n.front = self->spawn(remote_tools_role, remote, where_of(n), st.timeout);
  n.status.up = true;
  n.status.last_error.clear();
  n.backoff = std::chrono::milliseconds{100};
  self->monitor(remote);
  publish_view(self);
}

void reconnect(router_ptr self, size_t i) {
  auto& n = self->state.nodes[i];
  n.connecting = true;
  self
    ->request(self->state.connector, std::chrono::seconds{5},
              caf::connect_atom::value, n.host, n.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        auto& n = self->state.nodes[i];
        n.connecting = false;
        if (!ptr) {
          n.backoff = std::min(n.backoff * 2, max_backoff);
          n.status.last_error = "nothing is published there";
          schedule_reconnect(self);
          return;
        }
        join(self, i, caf::actor_cast<tool_executor_actor>(std::move(ptr)));
      },
      [=](caf::error& err) {
        auto& n = self->state.nodes[i];
        n.connecting = false;
        n.backoff = std::min(n.backoff * 2, max_backoff);
        n.status.last_error = describe(err);
        publish_view(self);
        schedule_reconnect(self);
      });
}

/// The node for the next call: the live one with the fewest pending,
/// round robin among equals; -1 if none is up.
int pick(router_ptr self) {
  auto& st = self->state;
  int best = -1;
  auto n = st.nodes.size();
  for (size_t k = 0; k < n; ++k) {
    auto i = (st.next + k) % n;
    auto& x = st.nodes[i];
    if (!x.status.up)
      continue;
    if (best < 0 || x.status.pending < st.nodes[best].status.pending)
      best = static_cast<int>(i);
  }
  if (best >= 0)
    st.next = (static_cast<size_t>(best) + 1) % n;
  return best;
}

caf::error none_up(router_ptr self) {
  std::string why;
  for (auto& n : self->state.nodes)
    why += (why.empty() ? "" : "; ") + where_of(n) + ": " +
           (n.status.last_error.empty() ? "down" : n.status.last_error);
  return make_error(errc::role_down,
                    "every tool node is down (" + why + ")");
}

} // namespace

tool_executor_actor::behavior_type
tool_router(router_ptr self, std::vector<tool_node_address> nodes,
            caf::io::middleman_actor connector,
            std::chrono::milliseconds timeout,
            std::shared_ptr<tool_nodes_view> view) {
  auto& st = self->state;
  st.connector = std::move(connector);
  st.timeout = timeout;
  st.view = std::move(view);
  if (st.view)
    st.view->resize(nodes.size());
  for (auto& a : nodes) {
    routed_node n;
    n.host = a.host;
    n.port = a.port;
    n.status.where = where_of(n);
    st.nodes.push_back(std::move(n));
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].remote)
      join(self, i, nodes[i].remote);
    else
      lose(self, i, "not reachable at start");
  }
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    for (size_t i = 0; i < st.nodes.size(); ++i)
      if (st.nodes[i].remote && st.nodes[i].remote.address() == msg.source)
        lose(self, i, "lost: " + describe(msg.reason));
  });
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& n : self->state.nodes)
      if (n.front)
        caf::anon_send_exit(n.front, caf::exit_reason::user_shutdown);
    self->quit(msg.reason);
  });
  return {
    [=](call_atom, tool_invocation& inv) -> caf::result<tool_result> {
      auto i = pick(self);
      if (i < 0)
        return none_up(self);
      auto& n = self->state.nodes[static_cast<size_t>(i)];
      ++n.status.pending;
      ++n.status.sent;
      count(self, static_cast<size_t>(i));
      auto rp = self->make_response_promise<tool_result>();
      auto front = n.front;
      auto sent_at = std::chrono::steady_clock::now();
      self->request(front, caf::infinite, call_atom::value, std::move(inv))
        .then(
          [=](tool_result& r) mutable {
            auto& n = self->state.nodes[static_cast<size_t>(i)];
            --n.status.pending;
            ++n.status.served;
            // What a call to this node takes, tool included: an
            // exponentially weighted average over the last ~16 calls.
            auto us = std::chrono::duration<double, std::micro>(
                        std::chrono::steady_clock::now() - sent_at)
                        .count();
            n.status.rtt_us = n.status.served == 1
                                ? us
                                : n.status.rtt_us + (us - n.status.rtt_us) / 16;
            count(self, static_cast<size_t>(i));
            rp.deliver(std::move(r));
          },
          [=](caf::error& err) mutable {
            auto& n = self->state.nodes[static_cast<size_t>(i)];
            --n.status.pending;
            count(self, static_cast<size_t>(i));
            // The front answers role_down once its node is lost; the down
            // handler takes the node out (if it has not already).
            if (code_of(err) == errc::role_down && n.front == front &&
                n.status.up)
              lose(self, static_cast<size_t>(i), describe(err));
            rp.deliver(std::move(err));
          });
      return rp;
    },
    [=](list_atom) -> caf::result<std::vector<tool_spec>> {
      auto i = pick(self);
      if (i < 0)
        return none_up(self);
      return self->delegate(self->state.nodes[static_cast<size_t>(i)].front,
                            list_atom::value);
    },
    [=](cancel_atom, uint64_t task_id) {
      for (auto& n : self->state.nodes)
        if (n.front)
          self->send(n.front, cancel_atom::value, task_id);
    },
    [=](done_atom, uint64_t, tool_result&) {},
    [=](tick_atom) {
      auto& st = self->state;
      st.ticking = false;
      for (size_t i = 0; i < st.nodes.size(); ++i)
        if (!st.nodes[i].status.up && !st.nodes[i].connecting)
          reconnect(self, i);
    },
  };
}

caf::expected<tool_executor_actor>
connect_tool_node(caf::actor_system& sys, const std::string& host,
                  uint16_t port, std::chrono::milliseconds timeout, bool tls) {
  caf::scoped_actor self{sys};
  caf::expected<tool_executor_actor> out{caf::sec::cannot_connect_to_node};
  auto& via = tls ? sys.openssl_manager().actor_handle()
                  : sys.middleman().actor_handle();
  self->request(via, timeout, caf::connect_atom::value, host, port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>& ifs) {
        if (!ptr) {
          out = make_error(errc::role_down, "nothing is published there");
          return;
        }
        auto expected_ifs = sys.message_types<tool_executor_actor>();
        if (!sys.assignable(ifs, expected_ifs)) {
          out = make_error(errc::invalid_input,
                           "the actor published there is not a tool "
                           "executor");
          return;
        }
        out = caf::actor_cast<tool_executor_actor>(std::move(ptr));
      },
      [&](caf::error& err) { out = std::move(err); });
  return out;
}

caf::expected<tool_executor_actor>
spawn_tool_router(caf::actor_system& sys, const engine_config& cfg,
                  const std::vector<std::string>& nodes,
                  std::shared_ptr<tool_nodes_view> view) {
  std::vector<tool_node_address> addrs;
  size_t reached = 0;
  std::string why;
  for (auto& n : nodes) {
    auto ep = parse_endpoint(n);
    if (!ep)
      return make_error(errc::invalid_config,
                        "tool node '" + n + "' is not HOST:PORT");
    auto remote = connect_tool_node(sys, ep->first, ep->second,
                                    cfg.timeouts.role,
                                    cfg.cluster_tls.enabled());
    tool_node_address a{ep->first, ep->second, {}};
    if (remote) {
      a.remote = *remote;
      ++reached;
    } else {
      why += (why.empty() ? "" : "; ") + n + ": " + describe(remote.error());
      log::get()->warn(R"("event":"tool_node_unreachable","node":{},"why":{})",
                       log::quote(n), log::quote(describe(remote.error())));
    }
    addrs.push_back(std::move(a));
  }
  if (reached == 0)
    return make_error(errc::role_down, "no tool node can be reached (" + why +
                                         ")");
  auto& connector = cfg.cluster_tls.enabled()
                      ? sys.openssl_manager().actor_handle()
                      : sys.middleman().actor_handle();
  return sys.spawn(tool_router, std::move(addrs), connector,
                   cfg.timeouts.tool, std::move(view));
}

} // namespace troupe
