#pragma once

#include <unistd.h>

namespace troupe::tools {

/// Owns a POSIX file descriptor (-1: none) and closes it.
class unique_fd {
public:
  explicit unique_fd(int fd = -1) noexcept : fd_(fd) {}

  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}

  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }

  ~unique_fd() {
    reset();
  }

  int get() const noexcept {
    return fd_;
  }

  /// Gives up ownership and returns the descriptor.
  int release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

  void reset(int fd = -1) noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_;
};

} // namespace troupe::tools
