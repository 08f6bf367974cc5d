#include "cluster/router.hpp"

#include <chrono>
#include <functional>
#include <set>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>
#include <spdlog/spdlog.h>
#include <caf/typed_event_based_actor.hpp>

#include "actors/directory.hpp"
#include "core/log.hpp"

namespace troupe {

namespace {

/// A request waiting on a route: when it was sent, and what to do if it
/// never gets its answer (fail it, or send it elsewhere).
struct waiter {
  std::chrono::steady_clock::time_point sent;
  std::function<void(caf::error)> fail;
};

/// One instance of the role on one node.
template <class Handle>
struct route {
  std::string node;
  std::string instance;
  Handle handle;
  std::shared_ptr<cluster::peer_counters> counters;
  uint64_t pending = 0;
  std::unordered_map<uint64_t, waiter> waiting;
};

template <class Handle>
struct router_state {
  router_state() = default;

  std::string role;
  std::vector<route<Handle>> routes;
  size_t next = 0;
  uint64_t next_id = 1;
  std::shared_ptr<cluster::cluster_view> view;
  std::shared_ptr<tool_slot> slot;
  /// How long a request may wait for its answer; checked by one sweep a
  /// second (a CAF timer per request would cost more than the request).
  std::chrono::milliseconds timeout{30000};
  bool ticking = false;

  static inline const char* name = "troupe.router";
};

template <class Self>
int find_route(Self self, const caf::actor_addr& addr) {
  auto& rs = self->state.routes;
  for (size_t i = 0; i < rs.size(); ++i)
    if (rs[i].handle.address() == addr)
      return static_cast<int>(i);
  return -1;
}

/// The route for the next request: the one with the fewest waiting, round
/// robin among equals; -1 if there is none.
template <class Self>
int pick(Self self) {
  auto& st = self->state;
  int best = -1;
  auto n = st.routes.size();
  for (size_t k = 0; k < n; ++k) {
    auto i = (st.next + k) % n;
    if (best < 0 || st.routes[i].pending < st.routes[best].pending)
      best = static_cast<int>(i);
  }
  if (best >= 0)
    st.next = (static_cast<size_t>(best) + 1) % n;
  return best;
}

template <class Self>
caf::error no_route(Self self) {
  return make_error(errc::role_down, "no node offering the " +
                                       self->state.role + " role is up");
}

/// Takes request `id` off the route at `addr`: its failure handler, or an
/// empty function if the route was dropped (and the request failed) first.
template <class Self>
std::function<void(caf::error)> take(Self self, const caf::actor_addr& addr,
                                     uint64_t id) {
  auto i = find_route(self, addr);
  if (i < 0)
    return {};
  auto& r = self->state.routes[static_cast<size_t>(i)];
  auto w = r.waiting.find(id);
  if (w == r.waiting.end())
    return {};
  auto f = std::move(w->second.fail);
  r.waiting.erase(w);
  --r.pending;
  r.counters->pending.fetch_sub(1, std::memory_order_relaxed);
  r.counters->received.fetch_add(1, std::memory_order_relaxed);
  return f;
}

/// Sends `xs` to a route and delivers its answer to `rp`. If the route is
/// lost first, the request fails with role_down; with `Retry`, it goes to
/// another route instead (at most `attempts` more times).
template <class Reply, bool Retry, class Self, class... Ts>
void forward(Self self, caf::typed_response_promise<Reply> rp, int attempts,
             Ts... xs) {
  auto& st = self->state;
  auto i = pick(self);
  if (i < 0) {
    rp.deliver(no_route(self));
    return;
  }
  auto& r = st.routes[static_cast<size_t>(i)];
  auto id = st.next_id++;
  ++r.pending;
  r.counters->sent.fetch_add(1, std::memory_order_relaxed);
  r.counters->pending.fetch_add(1, std::memory_order_relaxed);
  auto now = std::chrono::steady_clock::now();
  if constexpr (Retry) {
    r.waiting.emplace(id, waiter{now, [=](caf::error err) mutable {
                                   if (attempts > 0 &&
                                       code_of(err) == errc::role_down &&
                                       !self->state.routes.empty())
                                     forward<Reply, Retry>(self, rp,
                                                           attempts - 1, xs...);
                                   else
                                     rp.deliver(std::move(err));
                                 }});
  } else {
    r.waiting.emplace(id, waiter{now, [rp](caf::error err) mutable {
                                   rp.deliver(std::move(err));
                                 }});
  }
  if (!st.ticking) {
    st.ticking = true;
    self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
  }
  auto addr = r.handle.address();
  self->request(r.handle, caf::infinite, std::move(xs)...)
    .then(
      [=](Reply& x) mutable {
        if (take(self, addr, id))
          rp.deliver(std::move(x));
      },
      [=](caf::error& err) mutable {
        if (auto f = take(self, addr, id))
          f(std::move(err));
      });
}

/// Tells the view how many nodes offer the role (instances of one node
/// count once).
template <class Self>
void count_routes(Self self) {
  auto& st = self->state;
  if (!st.view)
    return;
  std::set<std::string> nodes;
  for (auto& r : st.routes)
    nodes.insert(r.node);
  st.view->set_routes(st.role, nodes.size());
}

/// The requests left waiting on a dropped route, and why they failed.
struct orphans {
  std::vector<std::function<void(caf::error)>> waiting;
  caf::error why;

  /// Fails them (or moves them on, which needs the routes settled first).
  void fail() {
    for (auto& f : waiting)
      f(why);
  }
};

/// Drops route `i`; its waiting requests are returned, not yet failed.
template <class Self>
orphans drop(Self self, size_t i, const std::string& why) {
  auto& st = self->state;
  auto r = std::move(st.routes[i]);
  st.routes.erase(st.routes.begin() + static_cast<std::ptrdiff_t>(i));
  if (st.next >= st.routes.size())
    st.next = 0;
  self->demonitor(r.handle.address());
  count_routes(self);
  log::get()->warn(R"("event":"route_lost","role":{},"node":{},"why":{})",
                   log::quote(st.role), log::quote(r.node), log::quote(why));
  r.counters->pending.fetch_sub(r.waiting.size(), std::memory_order_relaxed);
  orphans out;
  out.why = make_error(errc::role_down,
                       "node " + r.node + " (" + st.role + ") " + why);
  for (auto& [id, w] : r.waiting)
    out.waiting.push_back(std::move(w.fail));
  return out;
}

/// Puts the tools `specs` of a node in the slot's catalog.
void fill_slot(const std::shared_ptr<tool_slot>& slot,
               std::vector<tool_spec> specs) {
  auto cat = slot ? slot->get() : nullptr;
  if (!cat)
    return;
  std::vector<tools::entry> xs;
  for (auto& s : specs) {
    tools::entry e;
    e.spec = std::move(s);
    xs.push_back(std::move(e));
  }
  for (auto& f : cat->set_group(remote_tool_group, std::move(xs)))
    log::get()->warn(R"("event":"remote_tool_skipped","why":{})",
                     log::quote(f.message));
}

/// Routes from the membership actor: adds the new ones (watched), drops
/// those gone. `joined` hears of each new route.
template <class Handle, class Self, class F>
void set_routes(Self self, std::vector<member_info>& members, F joined) {
  auto& st = self->state;
  std::vector<route<Handle>> next;
  for (auto& m : members)
    for (auto& [instance, h] : m.handles)
      if (role_index(instance, st.role) && h) {
        route<Handle> r;
        r.node = m.name;
        r.instance = instance;
        r.handle = caf::actor_cast<Handle>(h);
        next.push_back(std::move(r));
      }
  // Gone: in the old list, not in the new one. Their requests move on
  // once the new routes are in.
  std::vector<orphans> gone;
  for (size_t i = st.routes.size(); i-- > 0;) {
    auto addr = st.routes[i].handle.address();
    bool kept = std::any_of(next.begin(), next.end(), [&](auto& r) {
      return r.handle.address() == addr;
    });
    if (!kept)
      gone.push_back(
        drop(self, i, "is lost: the membership took it out of the routes"));
  }
  for (auto& r : next) {
    if (find_route(self, r.handle.address()) >= 0)
      continue;
    r.counters = st.view ? st.view->counters(r.node)
                         : std::make_shared<cluster::peer_counters>();
    self->monitor(r.handle);
    log::get()->info(R"("event":"route_up","role":{},"node":{},"instance":{})",
                     log::quote(st.role), log::quote(r.node),
                     log::quote(r.instance));
    st.routes.push_back(r);
    joined(r);
  }
  count_routes(self);
  for (auto& o : gone)
    o.fail();
}

/// Fails the requests past their timeout (a node that stays connected but
/// never answers); ticks again while any request waits.
template <class Self>
void sweep(Self self) {
  // Only its own timer: a stray tick would start a second chain.
  if (self->current_sender().get() != self->ctrl())
    return;
  auto& st = self->state;
  auto cutoff = std::chrono::steady_clock::now() - st.timeout;
  std::vector<std::pair<std::string, std::function<void(caf::error)>>> late;
  bool waiting = false;
  for (auto& r : st.routes) {
    for (auto i = r.waiting.begin(); i != r.waiting.end();) {
      if (i->second.sent > cutoff) {
        ++i;
        continue;
      }
      late.emplace_back(r.node, std::move(i->second.fail));
      i = r.waiting.erase(i);
      --r.pending;
      r.counters->pending.fetch_sub(1, std::memory_order_relaxed);
    }
    waiting = waiting || !r.waiting.empty();
  }
  st.ticking = waiting;
  if (waiting)
    self->delayed_send(self, std::chrono::seconds{1}, tick_atom::value);
  for (auto& [node, f] : late)
    f(make_error(errc::timeout, "node " + node + " (" + st.role +
                                  ") did not answer within " +
                                  std::to_string(st.timeout.count()) + " ms"));
}

template <class Self>
void init(Self self, std::string role,
          std::shared_ptr<cluster::cluster_view> view,
          std::chrono::milliseconds timeout) {
  auto& st = self->state;
  st.role = std::move(role);
  st.view = std::move(view);
  st.timeout = timeout;
  self->set_down_handler([=](caf::down_msg& msg) {
    auto i = find_route(self, msg.source);
    if (i >= 0)
      drop(self, static_cast<size_t>(i), "is lost: " + describe(msg.reason))
        .fail();
  });
  // Stopping must not strand callers.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    // All routes go first, so no failure handler sends its request on.
    auto routes = std::move(self->state.routes);
    self->state.routes.clear();
    auto err = make_error(errc::role_down, "the " + self->state.role +
                                             " router is shutting down");
    for (auto& r : routes)
      for (auto& [id, w] : r.waiting)
        w.fail(err);
    self->quit(msg.reason);
  });
}

using planner_ptr =
  planner_router_actor::stateful_pointer<router_state<planner_actor>>;
using memory_ptr =
  memory_router_actor::stateful_pointer<router_state<memory_actor>>;
using tools_ptr =
  tool_router_actor::stateful_pointer<router_state<tool_executor_actor>>;

planner_router_actor::behavior_type
planner_router(planner_ptr self, std::shared_ptr<cluster::cluster_view> view,
               std::chrono::milliseconds timeout) {
  init(self, "planner", std::move(view), timeout);
  return {
    [=](plan_atom, plan_request& req) -> caf::result<chat_response> {
      auto rp = self->make_response_promise<chat_response>();
      forward<chat_response, true>(self, rp, 2, plan_atom::value,
                                   std::move(req));
      return rp;
    },
    [=](plan_atom, plan_request& req,
        caf::actor& sink) -> caf::result<chat_response> {
      auto rp = self->make_response_promise<chat_response>();
      forward<chat_response, true>(self, rp, 2, plan_atom::value,
                                   std::move(req), std::move(sink));
      return rp;
    },
    [=](tick_atom) { sweep(self); },
    [=](routes_atom, std::vector<member_info>& xs) {
      set_routes<planner_actor>(self, xs, [](auto&) {});
    },
  };
}

memory_router_actor::behavior_type
memory_router(memory_ptr self, std::shared_ptr<cluster::cluster_view> view,
              std::chrono::milliseconds timeout) {
  init(self, "memory", std::move(view), timeout);
  return {
    [=](store_atom, std::string& session,
        std::string& text) -> caf::result<uint64_t> {
      auto rp = self->make_response_promise<uint64_t>();
      forward<uint64_t, false>(self, rp, 0, store_atom::value,
                               std::move(session), std::move(text));
      return rp;
    },
    [=](recall_atom,
        recall_query& q) -> caf::result<std::vector<memory_hit>> {
      auto rp = self->make_response_promise<std::vector<memory_hit>>();
      forward<std::vector<memory_hit>, true>(self, rp, 2, recall_atom::value,
                                             std::move(q));
      return rp;
    },
    [=](call_atom, tool_invocation& inv) -> caf::result<tool_result> {
      auto rp = self->make_response_promise<tool_result>();
      forward<tool_result, false>(self, rp, 0, call_atom::value,
                                  std::move(inv));
      return rp;
    },
    [=](tick_atom) { sweep(self); },
    [=](routes_atom, std::vector<member_info>& xs) {
      set_routes<memory_actor>(self, xs, [](auto&) {});
    },
  };
}

/// Lists the tools of `r`'s node into the catalog.
void list_into_slot(tools_ptr self, const tool_executor_actor& h) {
  auto slot = self->state.slot;
  if (!slot)
    return;
  self->request(h, std::chrono::seconds{10}, list_atom::value)
    .then([slot](std::vector<tool_spec>& xs) { fill_slot(slot, std::move(xs)); },
          [](caf::error& err) {
            log::get()->warn(R"("event":"remote_tools_unlisted","why":{})",
                             log::quote(describe(err)));
          });
}

tool_router_actor::behavior_type
tool_router(tools_ptr self, std::shared_ptr<cluster::cluster_view> view,
            std::shared_ptr<tool_slot> slot, std::chrono::milliseconds timeout) {
  init(self, "tools", std::move(view), timeout);
  self->state.slot = std::move(slot);
  return {
    [=](call_atom, tool_invocation& inv) -> caf::result<tool_result> {
      auto rp = self->make_response_promise<tool_result>();
      forward<tool_result, false>(self, rp, 0, call_atom::value,
                                  std::move(inv));
      return rp;
    },
    [=](list_atom) -> caf::result<std::vector<tool_spec>> {
      auto rp = self->make_response_promise<std::vector<tool_spec>>();
      forward<std::vector<tool_spec>, true>(self, rp, 2, list_atom::value);
      return rp;
    },
    [=](cancel_atom, uint64_t task_id) {
      for (auto& r : self->state.routes)
        self->send(r.handle, cancel_atom::value, task_id);
    },
    [=](tick_atom) { sweep(self); },
    [=](routes_atom, std::vector<member_info>& xs) {
      set_routes<tool_executor_actor>(
        self, xs, [=](auto& r) { list_into_slot(self, r.handle); });
    },
    [=](reload_atom) {
      if (!self->state.routes.empty())
        list_into_slot(self, self->state.routes.front().handle);
    },
  };
}

} // namespace

planner_router_actor
spawn_planner_router(caf::actor_system& sys,
                     std::shared_ptr<cluster::cluster_view> view,
                     std::chrono::milliseconds timeout) {
  return sys.spawn(planner_router, std::move(view), timeout);
}

memory_router_actor
spawn_memory_router(caf::actor_system& sys,
                    std::shared_ptr<cluster::cluster_view> view,
                    std::chrono::milliseconds timeout) {
  return sys.spawn(memory_router, std::move(view), timeout);
}

tool_router_actor spawn_tool_router(caf::actor_system& sys,
                                    std::shared_ptr<cluster::cluster_view> view,
                                    std::shared_ptr<tool_slot> slot,
                                    std::chrono::milliseconds timeout) {
  return sys.spawn(tool_router, std::move(view), std::move(slot), timeout);
}

} // namespace troupe
