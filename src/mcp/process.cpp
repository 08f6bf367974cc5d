#include "mcp/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace troupe::mcp {

namespace {

void close_fd(int& fd) noexcept {
  if (fd >= 0)
    ::close(fd);
  fd = -1;
}

/// A pipe whose both ends are close-on-exec (the child gets its end through
/// dup2, which clears the flag) and whose `ours` end is non-blocking.
bool make_pipe(int fds[2], int ours) {
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return false;
  auto flags = ::fcntl(fds[ours], F_GETFL);
  ::fcntl(fds[ours], F_SETFL, flags | O_NONBLOCK);
  return true;
}

} // namespace

result<process> process::spawn(const std::string& command,
                               const std::vector<std::string>& args,
                               const std::map<std::string, std::string>& env) {
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  auto close_all = [&] {
    for (auto* p : {in, out, err}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  };
  if (!make_pipe(in, 1) || !make_pipe(out, 0) || !make_pipe(err, 0)) {
    auto reason = std::strerror(errno);
    close_all();
    return failure{errc::unspecified,
                   "cannot make pipes for '" + command + "': " + reason};
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  // Whatever the engine opened without O_CLOEXEC stays with the engine.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group (killed as a whole), no signal mask inherited
  // from the spawning thread, default dispositions for what the engine may
  // ignore or handle.
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig :
       {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2})
    sigaddset(&defaults, sig);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                    POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> env_lines;
  if (env.count("PATH") == 0)
    if (auto* path = std::getenv("PATH"))
      env_lines.push_back(std::string{"PATH="} + path);
  for (auto& [k, v] : env)
    env_lines.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_lines)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_store{command};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  auto rc =
    ::posix_spawnp(&pid, command.c_str(), &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  if (rc != 0) {
    close_all();
    return failure{errc::not_found,
                   "cannot start '" + command + "': " + std::strerror(rc)};
  }
  process p;
  p.pid_ = pid;
  p.in_fd_ = in[1];
  p.out_fd_ = out[0];
  p.err_fd_ = err[0];
  // Close-on-exec by definition; -1 on kernels before 5.3 (then the owner
  // polls try_reap).
  p.pid_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  return p;
}

process::process(process&& other) noexcept {
  *this = std::move(other);
}

process& process::operator=(process&& other) noexcept {
  if (this != &other) {
    reset();
    pid_ = std::exchange(other.pid_, -1);
    in_fd_ = std::exchange(other.in_fd_, -1);
    out_fd_ = std::exchange(other.out_fd_, -1);
    err_fd_ = std::exchange(other.err_fd_, -1);
    pid_fd_ = std::exchange(other.pid_fd_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

process::~process() {
  reset();
}

void process::reset() noexcept {
  if (pid_ > 0 && !status_) {
    signal_group(SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  close_fd(in_fd_);
  close_fd(out_fd_);
  close_fd(err_fd_);
  close_fd(pid_fd_);
  pid_ = -1;
  status_.reset();
}

void process::close_in() noexcept {
  close_fd(in_fd_);
}

void process::close_out() noexcept {
  close_fd(out_fd_);
}

void process::close_err() noexcept {
  close_fd(err_fd_);
}

std::optional<int> process::try_reap() {
  if (status_ || pid_ <= 0)
    return status_;
  int st = 0;
  auto rc = ::waitpid(pid_, &st, WNOHANG);
  if (rc == pid_) {
    status_ = st;
  } else if (rc < 0 && errno == ECHILD) {
    // Someone else reaped it (SIGCHLD ignored): gone, status unknown.
    status_ = 0;
  }
  if (status_)
    close_fd(pid_fd_);
  return status_;
}

std::optional<int> process::wait_for(int ms) {
  if (status_ || pid_ <= 0)
    return status_;
  if (pid_fd_ >= 0) {
    pollfd p{pid_fd_, POLLIN, 0};
    int rc;
    while ((rc = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    if (rc > 0) {
      // Exited: its group may hold stragglers (children it left behind);
      // the leader is not reaped yet, so the group id is still ours.
      ::kill(-pid_, SIGKILL);
    }
    return try_reap();
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds{ms};
  while (!try_reap() && (ms < 0 || std::chrono::steady_clock::now() < until))
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  return status_;
}

void process::signal_group(int sig) noexcept {
  if (pid_ > 0 && !status_)
    ::kill(-pid_, sig);
}

int process::stop(int grace_ms) {
  close_in();
  if (!wait_for(grace_ms)) {
    signal_group(SIGTERM);
    if (!wait_for(grace_ms)) {
      signal_group(SIGKILL);
      wait_for(-1);
    }
  }
  auto st = status_.value_or(0);
  close_out();
  close_err();
  return st;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status))
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    auto sig = WTERMSIG(status);
    std::string out = "was killed by signal " + std::to_string(sig);
    if (auto* name = ::strsignal(sig))
      out += std::string{" ("} + name + ")";
    return out;
  }
  return "ended with wait status " + std::to_string(status);
}

} // namespace troupe::mcp
