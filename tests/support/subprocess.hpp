#pragma once

// Test support: start the real `troupe` binary, read its output with a
// deadline, and always clean it up (no sleeping for luck).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace troupe::test {

/// What a finished process left behind.
struct process_result {
  /// Exit code, or -1 if it was killed or did not finish in time.
  int exit_code = -1;
  bool timed_out = false;
  std::string out;
  std::string err;
};

/// Runs `args` (args[0] is the program) to completion or `deadline`.
process_result
run_process(const std::vector<std::string>& args,
            std::chrono::milliseconds deadline = std::chrono::seconds{30});

/// A long-running child process, killed (SIGKILL) when destroyed.
class child_process {
public:
  explicit child_process(const std::vector<std::string>& args);
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Reads stdout until a full line containing `needle` arrives; returns the
  /// line, or nullopt on EOF or deadline.
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds deadline);

  /// Sends `sig` and waits (up to `deadline`) for the process to end;
  /// returns true if it ended.
  bool stop(int sig, std::chrono::milliseconds deadline);

  /// Sends `sig` and returns at once.
  void signal(int sig);

  /// The exit code once `stop` saw the process end (-1 before, or if a
  /// signal ended it).
  int exit_code() const noexcept {
    return exit_code_;
  }

  pid_t pid() const noexcept {
    return pid_;
  }

private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int exit_code_ = -1;
  std::string buffer_;
};

/// Path of the `troupe` binary built alongside the tests.
std::string cli_path();

} // namespace troupe::test
