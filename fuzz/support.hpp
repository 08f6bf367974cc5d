#pragma once

// What the fuzz targets share: a scratch directory made once and removed at
// exit, a reader that takes an input apart, and a loud trap for an
// invariant that broke. Header-only: every fuzz/*.cpp is its own program.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace troupe::fuzz {

/// Stops the run with `why` on stderr: libFuzzer saves the input.
[[noreturn]] inline void broken(const char* why) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", why);
  __builtin_trap();
}

/// A fresh directory under $TMPDIR (or /tmp), made on the first call and
/// removed with everything in it when the process exits. Targets that keep
/// files open in it register their own `atexit` after calling this, so
/// theirs runs first (atexit runs in reverse order) and closes them.
inline const std::filesystem::path& temp_dir() {
  // Never destroyed: the handler below reads it after static destructors
  // may have run.
  static const auto* dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
      std::string{base && *base ? base : "/tmp"} + "/troupe-fuzz-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      std::perror("troupe fuzz: mkdtemp");
      std::abort();
    }
    return new std::filesystem::path{buf.data()};
  }();
  static const bool registered = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return true;
  }();
  (void)registered;
  return *dir;
}

/// Takes an input apart from the front: single bytes for choices, lines
/// for short fields, the rest for a body.
class reader {
public:
  reader(const uint8_t* data, size_t size)
    : rest_(reinterpret_cast<const char*>(data), size) {}

  /// The next byte (0 once the input is used up).
  uint8_t byte() {
    if (rest_.empty())
      return 0;
    auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }

  /// Up to the next '\n' (dropped), or all that is left.
  std::string_view line() {
    auto nl = rest_.find('\n');
    auto out = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    return out;
  }

  /// Everything not taken yet.
  std::string_view rest() {
    auto out = rest_;
    rest_ = {};
    return out;
  }

  bool empty() const noexcept {
    return rest_.empty();
  }

private:
  std::string_view rest_;
};

/// `text` split at '\n' (a final empty piece is kept).
inline std::vector<std::string_view> lines(std::string_view text) {
  std::vector<std::string_view> out;
  for (;;) {
    auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos)
      return out;
    text.remove_prefix(nl + 1);
  }
}

} // namespace troupe::fuzz
