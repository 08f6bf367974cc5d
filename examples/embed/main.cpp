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
#include "runtime/runtime.hpp"

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
  if (argc > 2) {
    auto key = std::getenv("TROUPE_APPROVAL_KEY");
    auto parsed = guardrail::approval_key::from_hex(key ? key : "");
    if (!parsed) {
      std::cerr << "embed: TROUPE_APPROVAL_KEY (the nodes' key) needed\n";
      return 2;
    }
    opts.approval_key = *parsed;
  }
  // Joins the cluster if configured (the node, its routes, waiting for a
  // tool node), then starts the engine in this program's system.
  ecfg.timeouts.role = std::chrono::seconds{10};
  auto joined = runtime::join(sys, ecfg, std::move(opts),
                              runtime::route_wait::required);
  if (auto f = std::get_if<runtime::join_failure>(&joined)) {
    std::cerr << "embed: " << sys.render(f->error) << "\n";
    return 1;
  }
  auto& eng = std::get<runtime::joined>(joined).eng;
  caf::scoped_actor self{sys};
  task_request req{1, "embed", "embedder", text};
  int rc = 1;
  self->request(eng->tasks(), std::chrono::seconds{30}, run_atom::value,
                req)
    .receive(
      [&](task_result& r) {
        std::cout << r.answer << "\n";
        rc = r.status == task_status::completed ? 0 : 1;
      },
      [&](caf::error& e) { std::cerr << "embed: " << sys.render(e) << "\n"; });
  return rc;
}
