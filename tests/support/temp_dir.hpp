#pragma once

// Test support: a fresh directory under the system's temp directory, removed
// (with everything in it) when the test ends.

#include <filesystem>
#include <string>

#include <unistd.h>

namespace troupe::test {

struct temp_dir {
  std::filesystem::path path;

  /// Makes `<tmp>/troupe-<tag>-<pid>-<n>`, empty; `create` false leaves it
  /// to the test to create.
  explicit temp_dir(const std::string& tag = "test", bool create = true) {
    static int n = 0;
    path = std::filesystem::temp_directory_path() /
           ("troupe-" + tag + "-" + std::to_string(::getpid()) + "-" +
            std::to_string(++n));
    std::filesystem::remove_all(path);
    if (create)
      std::filesystem::create_directories(path);
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

} // namespace troupe::test
