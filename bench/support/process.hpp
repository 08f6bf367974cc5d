#pragma once

// Bench support: child processes a bench drives from outside (the real
// `troupe` binary, a stand-in server), and the process figures it reports.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace troupe::bench {

/// A child process whose stdout is a pipe to the bench; killed (SIGKILL) and
/// reaped when destroyed. Benches read the line a server prints once it
/// listens; the pipe stays open until then, so later output does not fail
/// (nobody reads it: a child that writes more than the pipe holds blocks).
class child_process {
public:
  /// No process.
  child_process() = default;

  /// Starts `args` (`args[0]` is the program's path) with stdin and stderr
  /// the bench's, and the bench's environment plus `env` ("NAME=value"
  /// entries, replacing a variable of the same name; the bench's own
  /// environment is left alone). Exits the bench (status 1) if the program
  /// cannot be started.
  static child_process start(const std::vector<std::string>& args,
                             const std::vector<std::string>& env = {});

  /// Forks the bench: the child runs `body(fd)`, `fd` being the write end
  /// of the pipe `read_line` reads, and never returns from here (it exits if
  /// `body` does). The child dies with the bench, even a killed one.
  static child_process fork(const std::function<void(int fd)>& body);

  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Kills the child (SIGKILL) and waits for it.
  ~child_process();

  /// The next line of the child's output, without its newline; blocks until
  /// it is complete, and returns what there is at end of file (empty when
  /// the child wrote nothing before exiting).
  std::string read_line();

  /// The child's process id (-1 when there is none).
  pid_t pid() const noexcept {
    return pid_;
  }

  /// The child's resident memory in bytes.
  uint64_t resident_bytes() const;

private:
  child_process(pid_t pid, int out_fd) : pid_(pid), out_fd_(out_fd) {}

  /// Kills and reaps the child, closes the pipe; leaves no process.
  void reset() noexcept;

  pid_t pid_ = -1;
  int out_fd_ = -1;
};

/// The bench's own resident memory in bytes.
uint64_t resident_bytes();

/// Raises the soft limit on open files to the hard limit; children started
/// afterwards inherit it.
void raise_fd_limit();

} // namespace troupe::bench
