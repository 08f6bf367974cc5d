// Embedding Troupe: the program owns the actor system (its config, its
// scheduler, its own actors); Troupe's roles are spawned into it under
// Troupe's supervisor, and a task goes in as a message.
//
// Usage: embed [TASK] [HOST:PORT]   (HOST:PORT: a `troupe node --role
// tools` to run the tools on; needs TROUPE_APPROVAL_KEY like the node)

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/engine.hpp"
#include "actors/tool_executor.hpp"
#include "guardrail/approval.hpp"

int main(int argc, char** argv) {
  using namespace troupe;
  std::string text = argc > 1 ? argv[1] : "What is 6 * 7?";
  // The program's own system: Troupe needs only its message types.
  caf::actor_system_config cfg;
  register_types(cfg);
  cfg.load<caf::io::middleman>();
  caf::actor_system sys{cfg};
  engine_config ecfg;
  ecfg.access.principals["embedder"] = "user";
  engine_options opts;
  if (argc > 2) {
    // Tools on another node: the same typed messages cross the wire.
    std::string where = argv[2];
    auto colon = where.rfind(':');
    auto key = std::getenv("TROUPE_APPROVAL_KEY");
    auto parsed = guardrail::approval_key::from_hex(key ? key : "");
    if (colon == std::string::npos || !parsed) {
      std::cerr << "embed: HOST:PORT and TROUPE_APPROVAL_KEY needed\n";
      return 2;
    }
    auto remote = sys.middleman().remote_actor<tool_executor_actor>(
      where.substr(0, colon),
      static_cast<uint16_t>(std::stoi(where.substr(colon + 1))));
    if (!remote) {
      std::cerr << "embed: " << sys.render(remote.error()) << "\n";
      return 1;
    }
    opts.approval_key = *parsed;
    opts.tools = sys.spawn(remote_tools_role, *remote, where,
                           std::chrono::milliseconds{30000});
  }
  auto eng = engine::start(sys, ecfg, std::move(opts));
  if (!eng) {
    std::cerr << "embed: " << sys.render(eng.error()) << "\n";
    return 1;
  }
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
