#pragma once

// Every built-in tool in one list: calculator, the file tools, http_get
// and shell, each with its config. CAF-free.

#include <vector>

#include "core/result.hpp"
#include "tools/files.hpp"
#include "tools/http_get.hpp"
#include "tools/shell.hpp"
#include "tools/tool.hpp"

namespace troupe::tools {

/// The configs of the built-in tools.
struct builtin_config {
  files_config files;
  http_get_config http_get;
  shell_config shell;
};

/// Checks every part of `cfg`; the message names the part, e.g.
/// "shell: cpu_seconds must be greater than 0, got 0".
result<bool> validate(const builtin_config& cfg);

/// calculator, read_file, write_file, list_files, http_get and shell.
std::vector<entry> builtin_tools(const builtin_config& cfg);

} // namespace troupe::tools
