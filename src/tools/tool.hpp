#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "core/types.hpp"

namespace troupe::tools {

/// A call's cancellation flag, shared by the executor (which sets it on
/// cancel or deadline) and the tool (which watches it). Tools that wait on
/// file descriptors poll `fd()` too: it becomes readable once cancelled.
class cancellation {
public:
  cancellation();
  ~cancellation();
  cancellation(const cancellation&) = delete;
  cancellation& operator=(const cancellation&) = delete;

  /// Sets the flag and wakes whoever polls `fd()`. Thread-safe, idempotent.
  void cancel() noexcept;

  bool cancelled() const noexcept {
    return flag_.load(std::memory_order_acquire);
  }

  /// An eventfd, readable once cancelled (-1 if none could be made; then
  /// only the flag works).
  int fd() const noexcept {
    return fd_;
  }

private:
  std::atomic<bool> flag_{false};
  int fd_ = -1;
};

/// What a tool knows about the call it serves.
struct context {
  uint64_t task_id = 0;
  std::string session;
  std::string principal;
  /// When the call's time is up; the executor fails the call then and sets
  /// `cancel`, so a tool that runs past it only wastes its own work.
  std::chrono::steady_clock::time_point deadline =
    std::chrono::steady_clock::time_point::max();
  /// Set when the call is cancelled (task cancelled, deadline passed). May
  /// be null (no cancellation, e.g. a direct `registry::invoke`).
  std::shared_ptr<cancellation> cancel;

  bool cancelled() const noexcept {
    return cancel && cancel->cancelled();
  }
};

/// A tool body: validated JSON arguments in, JSON output or a failure out.
/// The executor calls the same function concurrently from several threads,
/// so it must be thread-safe.
using function = std::function<result<json>(const json& args, const context&)>;

/// Completes an asynchronous call: called exactly once, from any thread.
using completion = std::function<void(result<json>)>;

/// An asynchronous tool body: starts the work and returns at once; `done`
/// delivers the outcome later (or at once). Must not block.
using async_function =
  std::function<void(const json& args, const context&, completion done)>;

/// Where the executor runs a tool.
enum class run_mode : uint8_t {
  /// Cheap and never blocks (the calculator): runs on the executor itself.
  immediate,
  /// May block (files, processes, network): runs on the bounded worker
  /// pool, never on a CAF scheduler thread.
  blocking,
  /// Works elsewhere and completes through a callback (MCP servers).
  async,
};

class schema_validator;

/// One registered tool (Envoy-style extension entry). Exactly one of `fn`
/// (modes immediate and blocking) and `async_fn` (mode async) is set.
struct entry {
  tool_spec spec;
  run_mode mode = run_mode::blocking;
  function fn;
  async_function async_fn;
  /// Compiled from `spec.parameters` by `registry::add`.
  std::shared_ptr<const schema_validator> schema;
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

/// Reads an optional string argument `key`, `fallback` if absent.
result<std::string> string_arg(const json& args, std::string_view key,
                               std::string_view fallback);

/// Reads an optional boolean argument `key`, `fallback` if absent.
result<bool> bool_arg(const json& args, std::string_view key, bool fallback);

/// Fails with `invalid_arguments` naming the first key of `args` not in
/// `known` (tools whose schema says `additionalProperties: false`).
result<bool> only_args(const json& args,
                       std::initializer_list<std::string_view> known);

} // namespace troupe::tools
