#include "support/actors.hpp"

#include "cluster/network.hpp"

#include <caf/io/middleman.hpp>

namespace troupe::test {

system_fixture::system_fixture(bool network) {
  register_types(cfg_);
  if (network)
    cfg_.load<caf::io::middleman>();
  sys_ = std::make_unique<caf::actor_system>(cfg_);
}

system_fixture::system_fixture(const engine_config& cfg) {
  register_types(cfg_);
  cluster::configure_network(cfg_, cfg.cluster);
  sys_ = std::make_unique<caf::actor_system>(cfg_);
}

system_fixture::~system_fixture() = default;

reply<task_result> run_task(caf::actor_system& sys, const engine& eng,
                            const std::string& text,
                            const std::string& session) {
  return ask<task_actor, task_result>(sys, eng.tasks(),
                                      std::chrono::seconds{10}, run_atom::value,
                                      task_request{0, session, "test", text});
}

engine_config test_config() {
  engine_config cfg;
  cfg.workspace = ".";
  // The principals tests use; anyone else has no permissions.
  cfg.access.principals["test"] = "admin";
  cfg.access.principals["p"] = "admin";
  return cfg;
}

} // namespace troupe::test
