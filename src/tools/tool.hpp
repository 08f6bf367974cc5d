#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
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
  /// only the flag works). Made on first use: most tools never wait on it.
  int fd() const noexcept;

private:
  std::atomic<bool> flag_{false};
  mutable std::atomic<int> fd_{-2}; // -2: not made yet
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
  std::shared_ptr<cancellation> cancel{};

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
  tool_spec spec{};
  function fn{};
  run_mode mode = run_mode::blocking;
  async_function async_fn{};
  /// Compiled from `spec.parameters` by `registry::add`.
  std::shared_ptr<const schema_validator> schema{};
};

/// A call matched to its tool, with its arguments parsed and checked.
struct prepared_call {
  const entry* tool = nullptr;
  json args;
};

/// Name -> tool. Immutable once shared: the executor and the roles that
/// read tool specs use it from several threads.
class registry {
public:
  /// Adds `x`, compiling its schema (unless already compiled). Fails with
  /// `invalid_config` if the name is taken, empty, longer than 64 or not of
  /// [A-Za-z0-9_-] (what model APIs accept), if the body does not fit the
  /// mode, or if the schema is not a valid JSON Schema object. An entry with
  /// neither body is listed only: its calls are served elsewhere (memory
  /// tools, tools on another node).
  result<bool> add(entry x);

  /// Returns the tool named `name`, or nullptr.
  const entry* find(std::string_view name) const;

  /// All tool specs, sorted by name.
  std::vector<tool_spec> specs() const;

  /// The same as a shared list, computed once by `seal`.
  tool_list spec_list() const;

  /// Computes the shared spec list; call before sharing the registry.
  void seal();

  /// Finds the tool, parses the arguments (empty means `{}`) and checks
  /// them against its schema: `unknown_tool` or `invalid_arguments` naming
  /// the field otherwise.
  result<prepared_call> prepare(const tool_call& call) const;

  /// Runs a prepared call of an immediate or blocking tool in the calling
  /// thread; an exception from the tool becomes `tool_failed`. A call
  /// already cancelled (`ctx`) does not run: `cancelled`.
  static result<json> run(const prepared_call& call, const context& ctx);

  /// Prepares and runs `call`, waiting for an asynchronous tool (so only
  /// for callers that may block, e.g. tests and the command line). Every
  /// failure comes back as a failed `tool_result`, never as an exception.
  tool_result invoke(const tool_call& call, const context& ctx) const;

  size_t size() const noexcept {
    return entries_.size();
  }

  /// All entries (for copying into a new registry).
  const std::map<std::string, entry, std::less<>>& entries() const noexcept {
    return entries_;
  }

private:
  std::map<std::string, entry, std::less<>> entries_;
  tool_list list_;
};

/// The result of call `call` from `res`: its output, or its error as JSON.
tool_result to_tool_result(const tool_call& call, result<json> res);

/// The tools in force, changing at run time (MCP servers come, go and
/// change their lists) while the executor and other roles read them: each
/// change publishes a new immutable registry.
class catalog {
public:
  /// Starts with `base` (built-in and embedder tools), in no group.
  explicit catalog(registry base = {});

  /// The registry in force; lock-free to keep.
  std::shared_ptr<const registry> snapshot() const {
    return current_.load(std::memory_order_acquire);
  }

  /// Replaces the tools of `group` (e.g. one MCP server) with `xs`. A tool
  /// that cannot be added (bad schema, name taken) is left out; the reasons
  /// come back, one per tool left out.
  std::vector<failure> set_group(const std::string& group,
                                 std::vector<entry> xs);

  /// Removes the tools of `group`.
  void drop_group(const std::string& group);

  /// Counts the changes published so far.
  uint64_t version() const noexcept {
    return version_.load(std::memory_order_acquire);
  }

private:
  /// The base and every group but `*skip` (none if null), not yet sealed.
  std::shared_ptr<registry> rebuild(const std::string* skip) const;
  void publish(std::shared_ptr<registry> next);

  std::mutex mtx_;
  registry base_;
  std::map<std::string, std::vector<entry>, std::less<>> groups_;
  std::atomic<std::shared_ptr<const registry>> current_;
  std::atomic<uint64_t> version_{0};
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
