#pragma once

// The `shell` tool: runs `/bin/sh -c command` inside a bubblewrap sandbox
// with no network, a read-only system (/usr, /bin, /lib, /lib64, /sbin,
// /etc), a private /tmp, the workspace read-write at /workspace, as uid
// 65534 without capabilities, under CPU, memory, file-size and open-file
// rlimits and a wall-clock limit. It fails closed: if bubblewrap is missing
// or cannot build the sandbox, every call is refused. CAF-free.

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/result.hpp"
#include "tools/tool.hpp"

namespace troupe::tools {

/// The sandbox and the limits of the `shell` tool.
struct shell_config {
  /// Host directory bound read-write at /workspace (the working directory).
  std::filesystem::path workspace;
  /// The bubblewrap binary: a path, or a name searched in PATH.
  std::string bwrap = "bwrap";
  /// Wall-clock limit of one command (the call's deadline shortens it).
  uint32_t timeout_ms = 10000;
  /// RLIMIT_CPU of each process in the sandbox (SIGXCPU, then SIGKILL).
  uint32_t cpu_seconds = 5;
  /// RLIMIT_AS (address space) of each process.
  uint64_t memory_bytes = 512ull << 20;
  /// RLIMIT_FSIZE: largest file a process may write (SIGXFSZ beyond).
  uint64_t max_file_bytes = 16ull << 20;
  /// RLIMIT_NOFILE of each process.
  uint32_t max_open_files = 64;
  /// Bytes kept of stdout and of stderr each; the rest is read and dropped.
  uint64_t max_output_bytes = 64ull << 10;
};

/// Checks `cfg`: the workspace must exist and be a directory, `bwrap` be
/// non-empty, every limit positive. Fails with `invalid_config`. (Whether
/// bubblewrap works is the tool's preflight's business.)
result<bool> validate(const shell_config& cfg);

/// The `shell` tool (permission `execute_tools`, not idempotent):
/// `{"command", "stdin"?}` in, `{"exit_code", "signal"?, "stdout",
/// "stderr", "truncated"}` out. A non-zero exit is a result; `signal`
/// names the signal when the exit code is 128 + N (the shell's
/// convention, which bubblewrap follows: a process killed by the CPU limit
/// shows "SIGXCPU" or "SIGKILL"). Failures: `sandbox_unavailable` (the
/// preflight — `bwrap <flags> /bin/sh -c true`, run once — failed; the
/// message carries bubblewrap's own error), `timeout` and `cancelled` (the
/// sandbox was killed, everything in it with it).
entry shell_tool(shell_config cfg);

} // namespace troupe::tools
