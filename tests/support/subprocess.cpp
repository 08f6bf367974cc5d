#include "support/subprocess.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace troupe::test {

namespace {

using clock_type = std::chrono::steady_clock;

pid_t spawn(const std::vector<std::string>& args, int out_fd, int err_fd) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  auto rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    throw std::runtime_error("cannot start " + args[0] + ": " +
                             std::strerror(rc));
  return pid;
}

int remaining_ms(clock_type::time_point until) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    until - clock_type::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

/// Waits for `pid` until `until`; returns the exit code, or nullopt.
std::optional<int> wait_until(pid_t pid, clock_type::time_point until) {
  for (;;) {
    int status = 0;
    auto rc = waitpid(pid, &status, WNOHANG);
    if (rc == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc < 0)
      return -1;
    if (clock_type::now() >= until)
      return std::nullopt;
    // waitpid has no timeout: poll the child's state at a fine grain.
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
}

} // namespace

process_result run_process(const std::vector<std::string>& args,
                           std::chrono::milliseconds deadline) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  auto pid = spawn(args, out_pipe[1], err_pipe[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  process_result res;
  auto until = clock_type::now() + deadline;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&res.out, &res.err};
  int open_fds = 2;
  while (open_fds > 0 && remaining_ms(until) > 0) {
    if (poll(fds, 2, remaining_ms(until)) <= 0)
      continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0)
        continue;
      char buf[4096];
      auto n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  auto code = wait_until(pid, until);
  if (!code) {
    res.timed_out = true;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  } else {
    res.exit_code = *code;
  }
  for (auto& f : fds)
    if (f.fd >= 0)
      close(f.fd);
  return res;
}

child_process::child_process(const std::vector<std::string>& args) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  auto devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  pid_ = spawn(args, out_pipe[1], devnull);
  close(out_pipe[1]);
  close(devnull);
  out_fd_ = out_pipe[0];
}

child_process::~child_process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0)
    close(out_fd_);
}

std::optional<std::string>
child_process::wait_for_line(const std::string& needle,
                             std::chrono::milliseconds deadline) {
  auto until = clock_type::now() + deadline;
  for (;;) {
    for (size_t nl; (nl = buffer_.find('\n')) != std::string::npos;) {
      auto line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (line.find(needle) != std::string::npos)
        return line;
    }
    pollfd fd{out_fd_, POLLIN, 0};
    if (remaining_ms(until) == 0 || poll(&fd, 1, remaining_ms(until)) <= 0)
      return std::nullopt;
    char buf[4096];
    auto n = read(out_fd_, buf, sizeof(buf));
    if (n <= 0)
      return std::nullopt;
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

bool child_process::stop(int sig, std::chrono::milliseconds deadline) {
  if (pid_ <= 0)
    return true;
  kill(pid_, sig);
  auto code = wait_until(pid_, clock_type::now() + deadline);
  if (!code)
    return false;
  exit_code_ = *code;
  pid_ = -1;
  return true;
}

void child_process::signal(int sig) {
  if (pid_ > 0)
    kill(pid_, sig);
}

std::string cli_path() {
  return TROUPE_CLI_PATH;
}

} // namespace troupe::test
