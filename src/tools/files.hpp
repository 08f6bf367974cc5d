#pragma once

// The file tools (read_file, write_file, list_files), confined to one
// workspace directory: every path is resolved by the kernel beneath the
// workspace (openat2 with RESOLVE_BENEATH), so neither `..`, absolute paths
// nor symlinks reach anything outside it. CAF-free.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"
#include "tools/tool.hpp"

namespace troupe::tools {

/// Where the file tools work, and how much they move.
struct files_config {
  /// Root directory; every path the tools take is relative to it.
  std::filesystem::path workspace;
  /// Largest file `read_file` returns.
  uint64_t max_read_bytes = 1 << 20;
  /// Largest file `write_file` leaves behind (content, or the file after
  /// an append).
  uint64_t max_write_bytes = 1 << 20;
  /// Most entries `list_files` returns (the first ones by name).
  uint32_t max_list_entries = 1000;
};

/// Checks `cfg`: the workspace must exist and be a directory, every limit
/// positive. Fails with `invalid_config` naming the key and value.
result<bool> validate(const files_config& cfg);

/// Checks a path argument before the kernel sees it: empty paths fail with
/// `invalid_arguments`; absolute paths, `..` components and NUL bytes with
/// `path_escape`.
result<bool> check_relative_path(std::string_view path);

/// Reads the text file `path`. Missing files fail with `not_found`, paths
/// (or symlinks) leading outside with `path_escape`, files over
/// `max_read_bytes` with `too_large`, directories, devices and binary files
/// (containing NUL bytes) with `invalid_arguments`.
result<std::string> read_workspace_file(const files_config& cfg,
                                        std::string_view path);

/// What `write_workspace_file` did.
struct write_outcome {
  /// Size of the file afterwards.
  uint64_t size = 0;
  /// True if the file did not exist before.
  bool created = false;
};

/// Writes `content` to `path` (appends if `append`), atomically: a
/// temporary file in the same directory replaces the old one, so readers
/// see the old or the new content, never half. Missing parent directories
/// are created. Fails with `too_large` (nothing written) if the file would
/// exceed `max_write_bytes`, `path_escape` as above, and
/// `invalid_arguments` for directories and symlinks (they are not written
/// through).
result<write_outcome> write_workspace_file(const files_config& cfg,
                                           std::string_view path,
                                           std::string_view content,
                                           bool append);

/// Lists the directory `path` ("." is the workspace):
/// `{"path", "entries": [{"name", "type", "bytes"?}], "total",
/// "truncated"}`, the first `max_list_entries` entries by name. `type` is
/// "file", "dir", "symlink" or "other"; `bytes` is given for files.
result<json> list_workspace_dir(const files_config& cfg, std::string_view path);

/// The three tools, each needing the permission `access_files`:
/// `read_file {path}` -> `{"path", "bytes", "content"}`,
/// `write_file {path, content, append?}` -> `{"path", "bytes_written",
/// "size", "created"}`, `list_files {path?}` -> as `list_workspace_dir`.
std::vector<entry> file_tools(files_config cfg);

} // namespace troupe::tools
