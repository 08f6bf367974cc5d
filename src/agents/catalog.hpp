#pragma once

// The agents in force: each configured agent resolved into what a task runs
// with (its system prompt read, its budgets filled in from the engine's,
// its provider chain as indices into the engine's providers, its output
// schema compiled). Immutable once built; the holder swaps in a new catalog
// on reload while tasks keep the one they started with. CAF-free.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agents/settings.hpp"
#include "core/result.hpp"
#include "tools/schema.hpp"

namespace troupe::agents {

/// One agent as a task runs it.
struct agent {
  std::string name;
  std::string description;
  /// The system prompt ("" for none).
  std::string instructions;
  /// The model over the provider's ("" keeps the provider's).
  std::string model;
  /// Tool patterns (memory tools excluded when memory is off).
  std::vector<std::string> tools;
  /// True if every tool is allowed (no filtering needed).
  bool all_tools = true;
  uint32_t max_steps = 8;
  /// 0: no limit.
  uint64_t max_tokens = 0;
  std::chrono::milliseconds timeout{120000};
  bool memory = true;
  /// The long-term namespace under the principal.
  std::string memory_ns;
  uint32_t recall_limit = 3;
  /// The budget of a thread's earlier turns, in estimated tokens.
  uint64_t history_tokens = 16000;
  /// The turns past the budget are summarized (else dropped).
  bool summarize_history = false;
  /// The answer's JSON Schema as text ("" for free text), and compiled.
  std::string output_schema;
  std::shared_ptr<const tools::schema_validator> output;
  /// Indices into the engine's providers: the first, then its fallbacks.
  std::vector<uint32_t> chain;

  /// True if the agent may use tool `name`.
  bool allows(std::string_view tool) const {
    return all_tools || tool_allowed(tools, tool);
  }
};

/// What an agent takes from the engine where it sets nothing.
struct engine_defaults {
  uint32_t max_steps = 8;
  uint64_t max_tokens = 0;
  std::chrono::milliseconds timeout{120000};
  uint32_t recall_limit = 3;
};

/// The provider chain (indices) for an agent's `provider` ("" for the
/// engine's own); nothing if that provider has no running instance (it was
/// added to the config after the start).
using chain_fn =
  std::function<std::optional<std::vector<uint32_t>>(const std::string&)>;

class catalog {
public:
  /// The agent called `name`, or null.
  std::shared_ptr<const agent> find(std::string_view name) const;

  /// Every agent, by name (`default` included).
  const std::map<std::string, std::shared_ptr<const agent>, std::less<>>&
  all() const {
    return agents_;
  }

  /// "a, b, default": for messages about an unknown agent.
  std::string names() const;

  /// Resolves `configured` (plus a `default` agent if it has none): reads
  /// instruction files, compiles schemas. Errors name the agent's key.
  static result<std::shared_ptr<const catalog>>
  build(const std::map<std::string, agent_config>& configured,
        const engine_defaults& defaults, const chain_fn& chain_of);

private:
  std::map<std::string, std::shared_ptr<const agent>, std::less<>> agents_;
};

/// The catalog in force, swapped whole on reload.
class holder {
public:
  explicit holder(std::shared_ptr<const catalog> x) : current_(std::move(x)) {}

  std::shared_ptr<const catalog> get() const {
    return current_.load();
  }

  void set(std::shared_ptr<const catalog> x) {
    current_.store(std::move(x));
  }

private:
  std::atomic<std::shared_ptr<const catalog>> current_;
};

/// Unknown agent `name`: a message that lists the known ones.
std::string unknown_agent(std::string_view name, const catalog& known);

} // namespace troupe::agents
