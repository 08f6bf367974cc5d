#include "tools/shell.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/checks.hpp"
#include "tools/unique_fd.hpp"

namespace troupe::tools {

namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;

std::string quote(std::string_view s) {
  return "'" + std::string{s} + "'";
}

// The bubblewrap binary: `name` itself if it has a slash, else the first
// executable `name` in PATH.
result<std::string> find_bwrap(const std::string& name) {
  auto usable = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string::npos) {
    if (usable(name))
      return name;
    return failure{errc::sandbox_unavailable,
                   "the shell tool's sandbox is unavailable: bubblewrap " +
                     quote(name) + " does not exist or is not executable"};
  }
  const char* env = std::getenv("PATH");
  std::string path = env != nullptr ? env : "/usr/local/bin:/usr/bin:/bin";
  for (size_t pos = 0; pos <= path.size();) {
    auto next = std::min(path.find(':', pos), path.size());
    auto dir = path.substr(pos, next - pos);
    if (!dir.empty() && usable(dir + "/" + name))
      return dir + "/" + name;
    pos = next + 1;
  }
  return failure{errc::sandbox_unavailable,
                 "the shell tool's sandbox is unavailable: bubblewrap " +
                   quote(name) + " is not installed (not found in PATH " +
                   quote(path) + ")"};
}

// bubblewrap's flags, up to the command. The host's system directories
// are bound read-only one by one (not the host's /), so /root, /home, the
// host's /tmp and everything else stay invisible.
std::vector<std::string> sandbox_flags(const std::string& workspace) {
  std::vector<std::string> a;
  bool etc_bound = false;
  for (std::string dir : {"/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc"}) {
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0)
      continue;
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      auto to = fs::read_symlink(dir, ec);
      if (!ec)
        a.insert(a.end(), {"--symlink", to.string(), dir});
    } else if (S_ISDIR(st.st_mode)) {
      a.insert(a.end(), {"--ro-bind", dir, dir});
      etc_bound = etc_bound || dir == "/etc";
    }
  }
  // Host root owns these and the sandbox's uid maps to the caller: when
  // the engine runs as root they would be readable inside. Hide them.
  if (etc_bound) {
    for (std::string f : {"/etc/shadow", "/etc/shadow-", "/etc/gshadow",
                          "/etc/gshadow-", "/etc/sudoers"}) {
      struct stat st {};
      if (::lstat(f.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        a.insert(a.end(), {"--ro-bind", "/dev/null", f});
    }
    for (std::string d : {"/etc/ssh", "/etc/ssl/private", "/etc/sudoers.d"}) {
      struct stat st {};
      if (::lstat(d.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        a.insert(a.end(), {"--tmpfs", d});
    }
  }
  a.insert(a.end(),
           {"--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc", "--bind",
            workspace, "/workspace", "--chdir", "/workspace",
            // No network (only lo), own pid/ipc/uts namespaces; a user
            // namespace is required (for --uid), nested ones are not.
            "--unshare-all", "--unshare-user", "--disable-userns",
            // The sandbox dies with us, and cannot reach our terminal.
            "--die-with-parent", "--new-session", "--clearenv", "--setenv",
            "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp",
            "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--"});
  return a;
}

// Output of one stream, capped.
struct capture {
  int fd = -1;
  bool eof = false;
  uint64_t limit = 0;
  std::string data;
  bool truncated = false;

  // Reads what is there now; the rest past `limit` is dropped, never left
  // in the pipe (a full pipe would stall the command).
  void drain() {
    char buf[16384];
    for (;;) {
      auto n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        auto room = limit - std::min<uint64_t>(limit, data.size());
        auto keep = std::min<uint64_t>(room, static_cast<uint64_t>(n));
        data.append(buf, static_cast<size_t>(keep));
        truncated = truncated || keep < static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0 || (errno != EINTR && errno != EAGAIN))
        eof = true;
      if (n < 0 && errno == EINTR)
        continue;
      return;
    }
  }
};

struct run_outcome {
  /// Set if the run was killed (timeout or cancelled).
  std::optional<errc> killed;
  int exit_code = -1;
  std::string out;
  std::string err;
  bool truncated = false;
};

// The child's side, between fork and execve: async-signal-safe calls only
// (no allocation, no locks). Reports a failure as {step, errno} on fd 3.
[[noreturn]] void exec_child(
  std::array<int, 4> fds, const char* path, char* const* argv,
  char* const* envp,
  const std::array<std::pair<__rlimit_resource_t, rlim_t>, 5>& limits) {
  int step = 1;
  int report_fd = fds[3];
  // Lift every descriptor above 10 first, so the dup2s below cannot
  // overwrite one another.
  for (auto& fd : fds)
    if ((fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 10)) < 0)
      goto fail;
  for (int i = 0; i < 4; ++i)
    if (::dup2(fds[i], i) < 0)
      goto fail;
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  report_fd = 3;
  // Descriptors other threads opened without O_CLOEXEC stay out too.
  ::close_range(4, ~0u, 0);
  {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
      ::sigaction(s, &dfl, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
  }
  // Out of our process group: a Ctrl-C at the engine's terminal is the
  // engine's business, which then ends the sandbox itself.
  ::setpgid(0, 0);
  step = 2;
  for (auto& [resource, value] : limits) {
    struct rlimit rl {
      value, value
    };
    // CPU: SIGXCPU at the soft limit (visible as such), SIGKILL a second
    // later if ignored.
    if (resource == RLIMIT_CPU)
      rl.rlim_max = value + 1;
    if (::setrlimit(resource, &rl) != 0)
      goto fail;
  }
  step = 3;
  ::execve(path, argv, envp);
fail:
  int report[2] = {step, errno};
  [[maybe_unused]] auto n = ::write(report_fd, report, sizeof report);
  ::_exit(127);
}

// Runs bubblewrap with `args` (after argv[0]), `input` on stdin, until it
// ends, `deadline` passes or `cancel` fires; kills it in the latter cases.
result<run_outcome>
run_sandbox(const shell_config& cfg, const std::string& bwrap,
            const std::vector<std::string>& args, const std::string& input,
            clock_type::time_point deadline, const context* ctx) {
  auto sys_fail = [](const char* what) {
    return failure{errc::tool_failed,
                   std::string{"cannot start the sandbox: "} + what + ": " +
                     std::strerror(errno)};
  };
  // stdin is a memory file, not a pipe: nothing to feed while the command
  // runs, no SIGPIPE if it never reads.
  unique_fd in{::memfd_create("troupe-shell-stdin", MFD_CLOEXEC)};
  if (in.get() < 0)
    return sys_fail("memfd_create");
  for (size_t done = 0; done < input.size();) {
    auto n = ::write(in.get(), input.data() + done, input.size() - done);
    if (n < 0 && errno != EINTR)
      return sys_fail("write stdin");
    done += n > 0 ? static_cast<size_t>(n) : 0;
  }
  ::lseek(in.get(), 0, SEEK_SET);
  int p_out[2], p_err[2], p_exec[2];
  if (::pipe2(p_out, O_CLOEXEC) != 0)
    return sys_fail("pipe");
  unique_fd out_r{p_out[0]}, out_w{p_out[1]};
  if (::pipe2(p_err, O_CLOEXEC) != 0)
    return sys_fail("pipe");
  unique_fd err_r{p_err[0]}, err_w{p_err[1]};
  if (::pipe2(p_exec, O_CLOEXEC) != 0)
    return sys_fail("pipe");
  unique_fd exec_r{p_exec[0]}, exec_w{p_exec[1]};
  // Everything the child needs is built before fork.
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(bwrap.c_str()));
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  std::array<std::pair<__rlimit_resource_t, rlim_t>, 5> limits{{
    {RLIMIT_CPU, cfg.cpu_seconds},
    {RLIMIT_AS, cfg.memory_bytes},
    {RLIMIT_FSIZE, cfg.max_file_bytes},
    {RLIMIT_NOFILE, cfg.max_open_files},
    // A crash must not drop a core file into the workspace.
    {RLIMIT_CORE, 0},
  }};
  pid_t pid = ::fork();
  if (pid < 0)
    return sys_fail("fork");
  if (pid == 0)
    exec_child({in.get(), out_w.get(), err_w.get(), exec_w.get()},
               bwrap.c_str(), argv.data(), envp, limits);
  out_w.reset();
  err_w.reset();
  exec_w.reset();
  in.reset();
  // EOF here means execve succeeded (the pipe is close-on-exec).
  int report[2] = {0, 0};
  ssize_t got;
  do
    got = ::read(exec_r.get(), report, sizeof report);
  while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof report)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    static constexpr const char* steps[] = {"", "redirecting its output",
                                            "setting its resource limits",
                                            "executing it"};
    return failure{errc::sandbox_unavailable,
                   "cannot start bubblewrap " + quote(bwrap) + ": " +
                     steps[std::clamp(report[0], 0, 3)] +
                     " failed: " + std::strerror(report[1])};
  }
  unique_fd pidfd{static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))};
  capture outs[2];
  outs[0].fd = out_r.get();
  outs[1].fd = err_r.get();
  for (auto& c : outs) {
    c.limit = cfg.max_output_bytes;
    ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
  }
  int cancel_fd = ctx != nullptr && ctx->cancel ? ctx->cancel->fd() : -1;
  run_outcome res;
  bool exited = false;
  int status = -1; // -1: not known (never a real wait status)
  auto reap = [&](int flags) {
    if (exited)
      return;
    auto r = ::waitpid(pid, &status, flags);
    // ECHILD: SIGCHLD is ignored and the kernel reaped it (status unknown).
    if (r == pid || (r < 0 && errno == ECHILD))
      exited = true;
  };
  // Once bubblewrap is gone its pid namespace goes with it and the pipes
  // close; this bounds the wait for that.
  auto grace = clock_type::time_point::max();
  for (;;) {
    if (exited && outs[0].eof && outs[1].eof)
      break;
    auto now = clock_type::now();
    if (!res.killed) {
      if (ctx != nullptr && ctx->cancelled())
        res.killed = errc::cancelled;
      else if (now >= deadline)
        res.killed = errc::timeout;
      // bubblewrap is the sandbox's pid-namespace parent: SIGKILL takes
      // everything inside with it (--die-with-parent).
      if (res.killed)
        ::kill(pid, SIGKILL);
    }
    if (exited && grace == clock_type::time_point::max())
      grace = now + std::chrono::seconds{1};
    if (now >= grace)
      break;
    std::vector<pollfd> fds;
    for (auto& c : outs)
      if (!c.eof)
        fds.push_back({c.fd, POLLIN, 0});
    if (!exited && pidfd.get() >= 0)
      fds.push_back({pidfd.get(), POLLIN, 0});
    if (!res.killed && cancel_fd >= 0)
      fds.push_back({cancel_fd, POLLIN, 0});
    auto until = deadline;
    if (res.killed || exited)
      until = std::min(grace, now + std::chrono::seconds{1});
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    // Without a pidfd the child's end is polled for.
    int cap = pidfd.get() >= 0 ? 1000 : 20;
    ::poll(fds.data(), fds.size(),
           static_cast<int>(std::clamp<long long>(ms, 0, cap)));
    for (auto& c : outs)
      if (!c.eof)
        c.drain();
    reap(WNOHANG);
  }
  if (!exited) {
    ::kill(pid, SIGKILL);
    reap(0);
  }
  res.out = std::move(outs[0].data);
  res.err = std::move(outs[1].data);
  res.truncated = outs[0].truncated || outs[1].truncated;
  if (status == -1)
    res.exit_code = -1;
  else if (WIFEXITED(status))
    res.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    res.exit_code = 128 + WTERMSIG(status);
  return res;
}

// The tool's shared state: its config and the preflight's verdict.
struct sandbox {
  shell_config cfg;
  std::string workspace;
  std::once_flag preflight_once;
  std::string bwrap;
  std::vector<std::string> flags;
  std::optional<failure> unavailable;

  // Runs `bwrap <flags> /bin/sh -c true` once; any failure is kept and
  // refuses every later call.
  void preflight() {
    auto found = find_bwrap(cfg.bwrap);
    if (!found) {
      unavailable = found.error();
      return;
    }
    bwrap = *found;
    flags = sandbox_flags(workspace);
    auto args = flags;
    args.insert(args.end(), {"/bin/sh", "-c", "true"});
    auto deadline =
      clock_type::now() + std::chrono::milliseconds{cfg.timeout_ms};
    auto res = run_sandbox(cfg, bwrap, args, "", deadline, nullptr);
    std::string why;
    if (!res)
      why = res.error().message;
    else if (res->killed)
      why = "bubblewrap did not finish a trivial command in " +
            std::to_string(cfg.timeout_ms) + " ms";
    else if (res->exit_code != 0) {
      auto line = res->err.substr(0, res->err.find('\n'));
      why = (line.empty() ? "bubblewrap failed" : line) + " (exit code " +
            std::to_string(res->exit_code) + ")";
    }
    if (!why.empty())
      unavailable = failure{errc::sandbox_unavailable,
                            "the shell tool's sandbox is unavailable, so it "
                            "runs nothing: " +
                              why};
  }

  result<json> run(const json& args, const context& ctx) {
    if (auto ok = only_args(args, {"command", "stdin"}); !ok)
      return ok.error();
    auto command = string_arg(args, "command");
    if (!command)
      return command.error();
    auto input = string_arg(args, "stdin", "");
    if (!input)
      return input.error();
    if (command->find('\0') != std::string::npos)
      return failure{errc::invalid_arguments, "command contains a NUL byte"};
    std::call_once(preflight_once, [this] { preflight(); });
    if (unavailable)
      return *unavailable;
    auto argv = flags;
    argv.insert(argv.end(), {"/bin/sh", "-c", *command});
    auto deadline =
      std::min(ctx.deadline,
               clock_type::now() + std::chrono::milliseconds{cfg.timeout_ms});
    auto res = run_sandbox(cfg, bwrap, argv, *input, deadline, &ctx);
    if (!res)
      return res.error();
    if (res->killed == errc::cancelled)
      return failure{errc::cancelled,
                     "the command was cancelled; its sandbox was killed"};
    if (res->killed)
      return failure{errc::timeout,
                     "the command did not finish in time (shell timeout " +
                       std::to_string(cfg.timeout_ms) +
                       " ms, or the call's deadline); its sandbox was killed"};
    json out;
    out["exit_code"] = res->exit_code;
    if (res->exit_code > 128 && res->exit_code < 128 + NSIG)
      if (auto* name = ::sigabbrev_np(res->exit_code - 128))
        out["signal"] = std::string{"SIG"} + name;
    out["stdout"] = std::move(res->out);
    out["stderr"] = std::move(res->err);
    out["truncated"] = res->truncated;
    return out;
  }
};

} // namespace

result<bool> validate(const shell_config& cfg) {
  if (auto ok = require_directory("workspace", cfg.workspace); !ok)
    return ok;
  if (cfg.bwrap.empty())
    return failure{errc::invalid_config, "bwrap must not be empty"};
  for (auto [key, value] :
       {std::pair<const char*, uint64_t>{"timeout_ms", cfg.timeout_ms},
        {"cpu_seconds", cfg.cpu_seconds},
        {"memory_bytes", cfg.memory_bytes},
        {"max_file_bytes", cfg.max_file_bytes},
        {"max_open_files", cfg.max_open_files},
        {"max_output_bytes", cfg.max_output_bytes}})
    if (auto ok = require_positive(key, value); !ok)
      return ok;
  return true;
}

entry shell_tool(shell_config cfg) {
  auto box = std::make_shared<sandbox>();
  std::error_code ec;
  auto ws = fs::canonical(cfg.workspace, ec);
  box->workspace = ec ? cfg.workspace.string() : ws.string();
  box->cfg = std::move(cfg);
  entry out;
  out.spec.name = "shell";
  out.spec.description =
    "Runs a POSIX shell command (/bin/sh -c) in a sandbox: the workspace is "
    "the working directory (/workspace, writable), the system is "
    "read-only, /tmp is private and empty, there is no network. Limits: " +
    std::to_string(box->cfg.timeout_ms) + " ms wall clock, " +
    std::to_string(box->cfg.cpu_seconds) + " s CPU, " +
    std::to_string(box->cfg.memory_bytes >> 20) +
    " MiB memory. Returns exit_code, stdout and stderr; a non-zero exit "
    "code is a normal result.";
  out.spec.parameters = object_schema(
    {{"command",
      {{"type", "string"},
       {"description", "The command line, e.g. \"ls -la && wc -l *.txt\"."}}},
     {"stdin",
      {{"type", "string"},
       {"description", "Text given to the command on standard input."}}}},
    {"command"});
  // A command may change the workspace: running it again is not harmless.
  out.spec.idempotent = false;
  out.spec.permissions = {"execute_tools", "run_shell"};
  out.mode = run_mode::blocking;
  out.fn = [box](const json& args, const context& ctx) {
    return box->run(args, ctx);
  };
  return out;
}

} // namespace troupe::tools
