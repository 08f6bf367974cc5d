// Embedding Troupe: the program owns the actor system (its config, its
// scheduler, its own actors); Troupe's roles are spawned into it under
// Troupe's supervisor, and a task goes in as a message.
//
// Usage: embed [TASK] [HOST:PORT]   (HOST:PORT: a node of a Troupe cluster
// to join, e.g. `troupe node --roles tools`; the tools then run on the
// nodes that offer them. Needs TROUPE_APPROVAL_KEY, the nodes' key.)

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "config/config.hpp"
#include "actors/engine.hpp"
#include "cluster/network.hpp"
#include "cluster/node.hpp"
#include "guardrail/approval.hpp"

int main(int argc, char** argv) {
  using namespace troupe;
  std::string text = argc > 1 ? argv[1] : "What is 6 * 7?";
  // The program's own system: Troupe needs only its message types.
  engine_config ecfg;
  ecfg.access.principals["embedder"] = "user";
  if (argc > 2) {
    // Join a cluster: tools come from the nodes that offer them.
    ecfg.cluster.seeds = {argv[2]};
    ecfg.cluster.roles = {"api", "planner", "memory"};
  }
  caf::actor_system_config cfg;
  register_types(cfg);
  cluster::configure_network(cfg, ecfg.cluster);
  caf::actor_system sys{cfg};
  engine_options opts;
  std::unique_ptr<cluster_node> node;
  if (argc > 2) {
    auto key = std::getenv("TROUPE_APPROVAL_KEY");
    auto parsed = guardrail::approval_key::from_hex(key ? key : "");
    if (!parsed) {
      std::cerr << "embed: TROUPE_APPROVAL_KEY (the nodes' key) needed\n";
      return 2;
    }
    opts.approval_key = *parsed;
    auto joined = cluster_node::start(sys, ecfg.cluster, ecfg.timeouts);
    if (!joined) {
      std::cerr << "embed: " << sys.render(joined.error()) << "\n";
      return 1;
    }
    node = std::move(*joined);
    node->route(opts);
    if (!node->wait_for_routes(std::chrono::seconds{10}, true).empty()) {
      std::cerr << "embed: no tool node reached through " << argv[2] << "\n";
      return 1;
    }
  }
  auto eng = engine::start(sys, ecfg, std::move(opts));
  if (!eng) {
    std::cerr << "embed: " << sys.render(eng.error()) << "\n";
    return 1;
  }
  if (node)
    node->attach(**eng);
  caf::scoped_actor self{sys};
  task_request req{1, "embed", "embedder", text};
  int rc = 1;
  self->request((*eng)->tasks(), std::chrono::seconds{30}, run_atom::value,
                req)
    .receive(
      [&](task_result& r) {
        std::cout << r.answer << "\n";
        rc = r.status == task_status::completed ? 0 : 1;
      },
      [&](caf::error& e) { std::cerr << "embed: " << sys.render(e) << "\n"; });
  return rc;
}
