#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "core/types.hpp"

namespace troupe::tools {

/// What a tool knows about the call it serves.
struct context {
  uint64_t task_id = 0;
  std::string session;
  std::string principal;
};

/// A tool body: validated JSON arguments in, JSON output or a failure out.
/// Runs on an actor thread: it must not block for long. The executor's
/// workers call the same function concurrently, so it must be thread-safe.
using function = std::function<result<json>(const json& args, const context&)>;

/// One registered tool (Envoy-style extension entry).
struct entry {
  tool_spec spec;
  function fn;
};

/// Name -> tool. Immutable once built and shared by the executor's workers,
/// which call `invoke` concurrently.
class registry {
public:
  /// Adds `x`; fails with `invalid_config` if the name is taken or empty or
  /// the schema is not a JSON object.
  result<bool> add(entry x);

  /// Returns the tool named `name`, or nullptr.
  const entry* find(std::string_view name) const;

  /// All tool specs, sorted by name.
  std::vector<tool_spec> specs() const;

  /// Runs `call` with the tool it names: unknown tools, malformed argument
  /// JSON and tool failures all come back as a failed `tool_result`, never
  /// as an exception.
  tool_result invoke(const tool_call& call, const context& ctx) const;

  size_t size() const noexcept {
    return entries_.size();
  }

private:
  std::map<std::string, entry, std::less<>> entries_;
};

/// Reads a required string argument `key` from `args`.
result<std::string> string_arg(const json& args, std::string_view key);

} // namespace troupe::tools
