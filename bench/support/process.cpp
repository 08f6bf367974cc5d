#include "support/process.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace troupe::bench {

namespace {

/// Resident memory from a /proc/…/statm file, in bytes (0 if unreadable).
uint64_t statm_resident(const std::string& path) {
  std::ifstream in{path};
  uint64_t pages = 0;
  uint64_t resident = 0;
  in >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

/// The name part of a "NAME=value" entry, with its '='.
std::string name_of(const std::string& entry) {
  auto eq = entry.find('=');
  return eq == std::string::npos ? entry + "=" : entry.substr(0, eq + 1);
}

/// The bench's environment with `extra` added, each replacing a variable of
/// the same name.
std::vector<std::string>
environment_with(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string entry{*e};
    bool replaced = false;
    for (auto& x : extra)
      replaced = replaced || entry.rfind(name_of(x), 0) == 0;
    if (!replaced)
      out.push_back(std::move(entry));
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

/// Pointers into `xs` with a terminating null, as exec wants them.
std::vector<char*> c_strings(std::vector<std::string>& xs) {
  std::vector<char*> out;
  for (auto& x : xs)
    out.push_back(x.data());
  out.push_back(nullptr);
  return out;
}

/// A pipe whose ends are closed on exec (the child keeps only its stdout).
void make_pipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("bench: pipe");
    std::exit(1);
  }
}

} // namespace

child_process child_process::start(const std::vector<std::string>& args,
                                   const std::vector<std::string>& env) {
  int out[2];
  make_pipe(out);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  auto argv_strings = args;
  auto argv = c_strings(argv_strings);
  auto env_strings = environment_with(env);
  auto envp = c_strings(env_strings);
  pid_t pid = -1;
  auto rc = args.empty() ? EINVAL
                         : posix_spawn(&pid, args[0].c_str(), &fa, nullptr,
                                       argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) {
    std::fprintf(stderr, "bench: cannot start %s: %s\n",
                 args.empty() ? "(nothing)" : args[0].c_str(),
                 std::strerror(rc));
    std::exit(1);
  }
  return child_process{pid, out[0]};
}

child_process child_process::fork(const std::function<void(int fd)>& body) {
  int out[2];
  make_pipe(out);
  auto parent = getpid();
  auto pid = ::fork();
  if (pid < 0) {
    std::perror("bench: fork");
    std::exit(1);
  }
  if (pid == 0) {
    // Dies with the bench, even when the bench is killed (and at once if
    // the bench is already gone).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      std::_Exit(1);
    close(out[0]);
    body(out[1]);
    std::_Exit(0);
  }
  close(out[1]);
  return child_process{pid, out[0]};
}

child_process::child_process(child_process&& other) noexcept
  : pid_(std::exchange(other.pid_, -1)),
    out_fd_(std::exchange(other.out_fd_, -1)) {}

child_process& child_process::operator=(child_process&& other) noexcept {
  if (this != &other) {
    reset();
    pid_ = std::exchange(other.pid_, -1);
    out_fd_ = std::exchange(other.out_fd_, -1);
  }
  return *this;
}

child_process::~child_process() {
  reset();
}

void child_process::reset() noexcept {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (out_fd_ >= 0)
    close(out_fd_);
  pid_ = -1;
  out_fd_ = -1;
}

std::string child_process::read_line() {
  // A byte at a time: a line is short, and nothing past it is taken.
  std::string line;
  char c;
  while (out_fd_ >= 0 && read(out_fd_, &c, 1) == 1 && c != '\n')
    line += c;
  return line;
}

uint64_t child_process::resident_bytes() const {
  return statm_resident("/proc/" + std::to_string(pid_) + "/statm");
}

uint64_t resident_bytes() {
  return statm_resident("/proc/self/statm");
}

void raise_fd_limit() {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
}

} // namespace troupe::bench
