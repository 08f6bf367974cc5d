#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "tools/tool.hpp"

namespace troupe::tools {

/// Where the `read_file` tool may read, and how much.
struct file_reader_config {
  /// Root directory; every readable file must resolve inside it.
  std::filesystem::path workspace;
  /// Largest file (in bytes) the tool returns.
  uint64_t max_bytes = 1 << 20;
};

/// Checks `cfg`: the workspace must exist and be a directory, and
/// `max_bytes` must be positive. Fails with `invalid_config`.
result<bool> validate(const file_reader_config& cfg);

/// Reads the text file `path` (relative to the workspace; an absolute path
/// only if it resolves inside the workspace). `..` and symlinks that leave
/// the workspace fail with `path_escape`, missing files with `not_found`,
/// files over `max_bytes` with `too_large`, and directories, devices and
/// binary files (containing NUL bytes) with `invalid_arguments`.
result<std::string> read_workspace_file(const file_reader_config& cfg,
                                        std::string_view path);

/// The `read_file` tool: `{"path": "..."}` in, `{"path": ..., "bytes": N,
/// "content": ...}` out.
entry file_reader_tool(file_reader_config cfg);

} // namespace troupe::tools
