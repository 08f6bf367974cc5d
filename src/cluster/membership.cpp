#include "cluster/membership.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>
#include <spdlog/spdlog.h>

#include "actors/directory.hpp"
#include "core/endpoint.hpp"
#include "core/log.hpp"

namespace troupe {

namespace {

using self_ptr = node_actor::stateful_pointer<membership_state>;
using clock = std::chrono::steady_clock;

constexpr auto max_backoff = std::chrono::milliseconds{5000};

bool offers(const member_info& m, const std::string& role) {
  return std::find(m.roles.begin(), m.roles.end(), role) != m.roles.end();
}

/// This node's entry as sent to others, with its current handles.
member_info me(self_ptr self) {
  auto& st = self->state;
  auto out = st.me;
  out.handles = st.cfg.local ? st.cfg.local->handles()
                             : std::map<std::string, caf::actor>{};
  out.node = caf::actor_cast<caf::actor>(self);
  return out;
}

/// This node's entry, then every peer up (address and roles only).
std::vector<member_info> roster(self_ptr self) {
  std::vector<member_info> out{me(self)};
  for (auto& [name, p] : self->state.peers)
    if (p.up) {
      member_info m;
      m.name = p.info.name;
      m.where = p.info.where;
      m.roles = p.info.roles;
      m.incarnation = p.info.incarnation;
      out.push_back(std::move(m));
    }
  return out;
}

void publish_view(self_ptr self) {
  auto& st = self->state;
  if (!st.cfg.view)
    return;
  std::vector<cluster::peer_status> xs;
  cluster::peer_status mine;
  mine.name = st.me.name;
  mine.where = st.me.where;
  mine.roles = st.cfg.roles;
  mine.state = "self";
  mine.load = st.cfg.local ? st.cfg.local->load() : 0;
  xs.push_back(std::move(mine));
  for (auto& [name, p] : st.peers) {
    cluster::peer_status s;
    s.name = name;
    s.where = p.info.where;
    s.roles = p.info.roles;
    s.state = p.up ? "up" : "down";
    s.load = p.load;
    s.rtt_us = p.rtt_us;
    s.lost = p.lost;
    s.rejoined = p.rejoined;
    s.last_error = p.last_error;
    s.tried = !p.up;
    if (!p.up)
      if (auto d = st.dials.find(p.info.where);
          d != st.dials.end() && !d->second.last_error.empty())
        s.last_error = d->second.last_error;
    xs.push_back(std::move(s));
  }
  // Addresses not reached yet (a seed that is down).
  for (auto& dial : st.dials) {
    // Not a structured binding: clang 14 cannot capture one.
    auto& where = dial.first;
    auto& d = dial.second;
    bool named = std::any_of(st.peers.begin(), st.peers.end(), [&](auto& kv) {
      return kv.second.info.where == where;
    });
    if (named)
      continue;
    cluster::peer_status s;
    s.name = where;
    s.where = where;
    s.state = "down";
    s.tried = !d.last_error.empty();
    s.last_error = s.tried ? d.last_error : "not reached yet";
    xs.push_back(std::move(s));
  }
  st.cfg.view->set_members(std::move(xs));
}

/// Tells each router the peers up that offer its role, if that changed.
void push_routes(self_ptr self) {
  auto& st = self->state;
  for (auto& [role, router] : st.cfg.routers) {
    std::vector<member_info> xs;
    std::string sig;
    for (auto& [name, p] : st.peers) {
      // A node that only dials out is never routed to (it could not be
      // redialled), whatever it claims.
      if (!p.up || p.info.where.empty() || !offers(p.info, role))
        continue;
      xs.push_back(p.info);
      sig += name + "#" + std::to_string(p.info.incarnation);
      for (auto& [inst, h] : p.info.handles)
        sig += "/" + inst + "@" + std::to_string(h.id());
      sig += ";";
    }
    auto [last, first] = st.sent_routes.try_emplace(role);
    if (!first && last->second == sig)
      continue;
    last->second = std::move(sig);
    caf::anon_send(router, routes_atom::value, std::move(xs));
  }
}

void schedule_dial(self_ptr self, const std::string& where,
                   std::chrono::milliseconds backoff, std::string why) {
  auto& d = self->state.dials[where];
  d.busy = false;
  d.backoff = backoff;
  d.at = clock::now() + backoff;
  d.last_error = std::move(why);
}

/// True if `info` claims the name of another node that is up: two live
/// nodes under one name would replace each other on every hello.
bool name_taken(self_ptr self, const member_info& info) {
  auto i = self->state.peers.find(info.name);
  return i != self->state.peers.end() && i->second.up &&
         i->second.info.node != info.node &&
         i->second.info.incarnation != info.incarnation;
}

/// `info` came from the node it describes: record it (up, with its handles).
/// A restarted node under a name still up here is refused until its old
/// incarnation is lost (its down message); it dials again meanwhile.
void meet(self_ptr self, member_info info) {
  auto& st = self->state;
  if (info.name.empty() || info.name == st.me.name || !info.node ||
      name_taken(self, info))
    return;
  if (!info.where.empty())
    st.dials.erase(info.where);
  auto [it, fresh] = st.peers.try_emplace(info.name);
  auto& p = it->second;
  // Back at another address: the old one is no longer worth dialling.
  if (!fresh && p.info.where != info.where && !p.info.where.empty())
    st.dials.erase(p.info.where);
  if (!fresh && p.up && p.info.incarnation == info.incarnation &&
      p.info.node == info.node) {
    // Known and up: its roles or handles may have changed.
    p.info.roles = std::move(info.roles);
    p.info.handles = std::move(info.handles);
    push_routes(self);
    return;
  }
  if (!fresh)
    ++p.rejoined;
  p.info = std::move(info);
  p.up = true;
  p.last_error.clear();
  self->monitor(p.info.node);
  log::get()->info(R"("event":"peer_up","peer":{},"where":{},"roles":{})",
                   log::quote(p.info.name), log::quote(p.info.where),
                   p.info.roles.size());
  push_routes(self);
  publish_view(self);
}

void dial_due(self_ptr self);

/// An answer to our hello: the node's own entry, then the others it knows.
void merge(self_ptr self, std::vector<member_info>& xs) {
  if (xs.empty())
    return;
  auto& st = self->state;
  meet(self, std::move(xs.front()));
  bool added = false;
  for (size_t i = 1; i < xs.size(); ++i) {
    auto& m = xs[i];
    if (m.name == st.me.name || m.where.empty() || m.where == st.me.where)
      continue;
    if (auto p = st.peers.find(m.name); p != st.peers.end() && p->second.up)
      continue;
    if (st.dials.count(m.where))
      continue;
    st.dials[m.where].at = clock::now();
    added = true;
  }
  if (added)
    dial_due(self);
}

void say_hello(self_ptr self, const caf::actor& node) {
  auto h = caf::actor_cast<node_actor>(node);
  self->request(h, self->state.cfg.timeout, hello_atom::value, me(self))
    .then([=](std::vector<member_info>& xs) { merge(self, xs); },
          [](caf::error&) {
            // A peer that does not answer is lost by its down message
            // (heartbeats); nothing to do here.
          });
}

void dial(self_ptr self, const std::string& where) {
  auto& st = self->state;
  auto ep = parse_endpoint(where);
  auto& d = st.dials[where];
  if (!ep) {
    d.last_error = "not HOST:PORT";
    d.at = clock::now() + max_backoff;
    return;
  }
  d.busy = true;
  auto failed = [=](std::string why) {
    auto& st = self->state;
    auto i = st.dials.find(where);
    if (i == st.dials.end())
      return; // met meanwhile
    auto next = std::min(i->second.backoff * 2, max_backoff);
    schedule_dial(self, where, next, std::move(why));
    publish_view(self);
  };
  self
    ->request(st.cfg.connector, st.cfg.timeout, caf::connect_atom::value,
              ep->first, ep->second)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>& ifs) {
        if (!ptr) {
          failed("nothing is published there");
          return;
        }
        if (!self->system().assignable(
              ifs, self->system().message_types<node_actor>())) {
          failed("the actor published there is not a Troupe node");
          return;
        }
        auto node = caf::actor_cast<node_actor>(std::move(ptr));
        self->request(node, self->state.cfg.timeout, hello_atom::value, me(self))
          .then(
            [=](std::vector<member_info>& xs) {
              self->state.dials.erase(where);
              merge(self, xs);
            },
            [=](caf::error& err) { failed(describe(err)); });
      },
      [=](caf::error& err) { failed(describe(err)); });
}

void dial_due(self_ptr self) {
  auto now = clock::now();
  std::vector<std::string> due;
  for (auto& [where, d] : self->state.dials)
    if (!d.busy && d.at <= now)
      due.push_back(where);
  for (auto& w : due)
    dial(self, w);
}

/// Peer `name` is lost: its routes go now; it is redialled with backoff (a
/// node that only dialled out is forgotten: it will dial again).
void lose(self_ptr self, const std::string& name, std::string why) {
  auto& st = self->state;
  auto i = st.peers.find(name);
  if (i == st.peers.end() || !i->second.up)
    return;
  auto& p = i->second;
  p.up = false;
  ++p.lost;
  p.last_error = why;
  p.info.handles.clear();
  p.info.node = nullptr;
  log::get()->warn(R"("event":"peer_lost","peer":{},"why":{})",
                   log::quote(name), log::quote(why));
  if (p.info.where.empty())
    st.peers.erase(i);
  else
    schedule_dial(self, p.info.where, std::chrono::milliseconds{100},
                  std::move(why));
  push_routes(self);
  publish_view(self);
}

void ping_all(self_ptr self) {
  auto& st = self->state;
  for (auto& [name, p] : st.peers) {
    if (!p.up)
      continue;
    auto h = caf::actor_cast<node_actor>(p.info.node);
    auto sent = clock::now();
    auto who = name;
    auto inc = p.info.incarnation;
    self
      ->request(h, st.cfg.timeout, ping_atom::value,
                static_cast<uint64_t>(sent.time_since_epoch().count()))
      .then(
        [=](uint64_t, uint64_t load) {
          auto i = self->state.peers.find(who);
          if (i == self->state.peers.end() || i->second.info.incarnation != inc)
            return;
          auto us = std::chrono::duration<double, std::micro>(clock::now() -
                                                              sent)
                      .count();
          auto& p = i->second;
          p.rtt_us = p.rtt_us == 0 ? us : p.rtt_us + (us - p.rtt_us) / 8;
          p.load = load;
        },
        [](caf::error&) {});
  }
}

/// Sends hello to every peer up if this node's handles changed since the
/// last time; to one peer at random otherwise (gossip).
void gossip(self_ptr self, bool announce) {
  auto& st = self->state;
  std::vector<caf::actor> targets;
  for (auto& [name, p] : st.peers)
    if (p.up && p.info.node)
      targets.push_back(p.info.node);
  if (targets.empty())
    return;
  if (announce) {
    for (auto& t : targets)
      say_hello(self, t);
    return;
  }
  std::uniform_int_distribution<size_t> pick{0, targets.size() - 1};
  say_hello(self, targets[pick(st.rng)]);
}

/// Reads the config and starts: on the first tick, which its spawner sends
/// after it wrote the last of the config (its name, its port).
void start(self_ptr self) {
  auto& st = self->state;
  st.cfg = *st.pending_cfg;
  st.pending_cfg.reset();
  st.rng.seed(std::random_device{}());
  st.me.name = st.cfg.name;
  st.me.where = st.cfg.where;
  // A node that only dials out cannot be redialled: it offers nothing.
  if (!st.me.where.empty())
    st.me.roles = st.cfg.roles;
  std::uniform_int_distribution<uint64_t> any;
  st.me.incarnation = any(st.rng) | 1;
  for (auto& s : st.cfg.seeds)
    if (s != st.me.where)
      st.dials[s].at = clock::now();
  st.started = true;
}

caf::error starting() {
  return make_error(errc::role_down, "the node is starting");
}

} // namespace

node_actor::behavior_type
membership(self_ptr self, std::shared_ptr<const membership_config> cfg) {
  self->state.pending_cfg = std::move(cfg);
  self->set_down_handler([=](caf::down_msg& msg) {
    for (auto& [name, p] : self->state.peers)
      if (p.up && p.info.node.address() == msg.source) {
        lose(self, name, "lost: " + describe(msg.reason));
        return;
      }
  });
  return {
    [=](hello_atom,
        member_info& info) -> caf::result<std::vector<member_info>> {
      auto& st = self->state;
      if (!st.started)
        return starting();
      if ((info.name == st.me.name && info.incarnation != st.me.incarnation) ||
          name_taken(self, info))
        return make_error(errc::invalid_config,
                          "node name '" + info.name +
                            "' is taken by another node of the cluster");
      if (!info.node)
        return make_error(errc::invalid_input, "a hello without its node");
      meet(self, std::move(info));
      return roster(self);
    },
    [=](ping_atom, uint64_t x) -> caf::result<uint64_t, uint64_t> {
      if (!self->state.started)
        return starting();
      auto& local = self->state.cfg.local;
      return {x, local ? local->load() : uint64_t{0}};
    },
    [=](reload_atom) {
      if (self->state.started)
        gossip(self, true);
    },
    [=](tick_atom) {
      if (!self->state.started)
        start(self);
      ping_all(self);
      gossip(self, false);
      dial_due(self);
      publish_view(self);
      self->delayed_send(self, self->state.cfg.interval, tick_atom::value);
    },
  };
}

} // namespace troupe
