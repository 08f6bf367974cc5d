#pragma once

// A child process on three pipes, for the MCP client's stdio transport:
// started in its own process group with a minimal environment, our pipe
// ends non-blocking and close-on-exec, exit observable through a pidfd.
// CAF-free.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include "core/result.hpp"

namespace troupe::mcp {

/// One started child. Move-only; destroying one that still runs kills its
/// process group (SIGKILL) and reaps it, so no zombie and no fd leaks.
class process {
public:
  /// Starts `command` (looked up in the engine's PATH) with `args`. Its
  /// environment is the engine's PATH plus `env` (which may override
  /// PATH), nothing else. Fails with `not_found` if it cannot be executed.
  static result<process> spawn(const std::string& command,
                               const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env);

  process() = default;
  process(process&& other) noexcept;
  process& operator=(process&& other) noexcept;
  ~process();

  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const noexcept {
    return pid_;
  }

  /// Our ends of the child's stdin (write), stdout and stderr (read); all
  /// non-blocking, -1 once closed.
  int in_fd() const noexcept {
    return in_fd_;
  }
  int out_fd() const noexcept {
    return out_fd_;
  }
  int err_fd() const noexcept {
    return err_fd_;
  }

  /// Readable once the child has exited (-1 if the kernel has no pidfds;
  /// then poll `try_reap` instead).
  int exit_fd() const noexcept {
    return pid_fd_;
  }

  void close_in() noexcept;
  void close_out() noexcept;
  void close_err() noexcept;

  /// Reaps the child if it has exited; returns its wait status then.
  std::optional<int> try_reap();

  /// Waits up to `ms` for the child to exit; returns its wait status then.
  std::optional<int> wait_for(int ms);

  /// Sends `sig` to the child's process group (no-op once reaped).
  void signal_group(int sig) noexcept;

  /// The wait status once reaped.
  std::optional<int> status() const noexcept {
    return status_;
  }

  /// Ends the child for good: closes stdin, waits up to `grace_ms` for it
  /// to exit, SIGTERM, waits `grace_ms` again, SIGKILL; reaps it and closes
  /// every fd. Returns the wait status.
  int stop(int grace_ms);

private:
  void reset() noexcept;

  pid_t pid_ = -1;
  int in_fd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int pid_fd_ = -1;
  std::optional<int> status_;
};

/// How a wait status reads: "exited with code 3", "was killed by signal 9
/// (Killed)".
std::string describe_exit(int status);

} // namespace troupe::mcp
