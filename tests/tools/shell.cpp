// The shell tool's sandbox, tested by what a command can and cannot do
// inside it: the filesystem it sees, the network, the limits, the deadline
// and cancellation, and refusing to run when bubblewrap cannot sandbox.

#include "tools/shell.hpp"

#include <fstream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "support/temp_dir.hpp"
#include "tools/unique_fd.hpp"

using namespace troupe;
using namespace troupe::tools;
using namespace std::chrono_literals;

namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;

std::string slurp(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Waits (with a deadline) until `pred` holds.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  auto until = clock_type::now() + limit;
  while (!pred()) {
    if (clock_type::now() > until)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

struct fixture {
  test::temp_dir tmp{"shell"};
  fs::path ws = tmp.path / "ws";
  shell_config cfg;

  fixture() {
    fs::create_directories(ws);
    cfg.workspace = ws;
    cfg.timeout_ms = 5000;
  }

  result<json> run(const std::string& command, const context& ctx = {},
                   std::string input = {}) const {
    json args{{"command", command}};
    if (!input.empty())
      args["stdin"] = input;
    return shell_tool(cfg).fn(args, ctx);
  }

  // Runs `command`, which must succeed as a tool call.
  json ok(const std::string& command) const {
    auto res = run(command);
    INFO(command);
    REQUIRE(res);
    return *res;
  }
};

// True if some process on the host runs `sleep <arg>`.
bool sleep_running(const std::string& arg) {
  std::string want = "sleep";
  want += '\0';
  want += arg;
  want += '\0';
  for (auto& e : fs::directory_iterator{"/proc"}) {
    std::ifstream in{e.path() / "cmdline", std::ios::binary};
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str() == want)
      return true;
  }
  return false;
}

} // namespace

TEST_CASE("shell validates its config", "[tools][shell]") {
  fixture f;
  CHECK(validate(f.cfg));
  auto cfg = f.cfg;
  cfg.workspace = f.tmp.path / "nope";
  CHECK(validate(cfg).error().code == errc::invalid_config);
  cfg = f.cfg;
  cfg.cpu_seconds = 0;
  CHECK(validate(cfg).error().message ==
        "cpu_seconds must be greater than 0, got 0");
  cfg = f.cfg;
  cfg.bwrap = "";
  CHECK_FALSE(validate(cfg));
  auto e = shell_tool(f.cfg);
  CHECK(e.spec.permissions ==
        std::vector<std::string>{"execute_tools", "run_shell"});
  CHECK_FALSE(e.spec.idempotent);
  CHECK(e.mode == run_mode::blocking);
  CHECK(json::parse(e.spec.parameters)["additionalProperties"] == false);
}

TEST_CASE("shell runs commands: output, exit code, stdin", "[tools][shell]") {
  fixture f;
  auto out = f.ok("echo hello; echo oops >&2; exit 3");
  CHECK(out["exit_code"] == 3);
  CHECK(out["stdout"] == "hello\n");
  CHECK(out["stderr"] == "oops\n");
  CHECK(out["truncated"] == false);
  CHECK_FALSE(out.contains("signal"));
  auto res = f.run("tr a-z A-Z", {}, "shout\n");
  REQUIRE(res);
  CHECK((*res)["stdout"] == "SHOUT\n");
  CHECK((*res)["exit_code"] == 0);
  // Unprivileged, in the workspace, with a clean environment.
  out = f.ok("id -u; pwd; env | cut -d= -f1 | sort | paste -sd' '; grep "
             "CapEff /proc/self/status");
  CHECK(out["stdout"] == "65534\n/workspace\nHOME PATH PWD\n"
                         "CapEff:\t0000000000000000\n");
  f.cfg.max_output_bytes = 10;
  out = f.ok("head -c 100000 /dev/zero | tr '\\0' a; echo done >&2");
  CHECK(out["stdout"] == "aaaaaaaaaa");
  CHECK(out["stderr"] == "done\n");
  CHECK(out["truncated"] == true);
  CHECK(out["exit_code"] == 0);
}

TEST_CASE("shell: the workspace is writable, the rest is not",
          "[tools][shell]") {
  fixture f;
  auto out = f.ok("echo data > made.txt && mkdir -p d && echo x > d/y");
  CHECK(out["exit_code"] == 0);
  CHECK(slurp(f.ws / "made.txt") == "data\n");
  CHECK(slurp(f.ws / "d" / "y") == "x\n");
  for (auto cmd : {"touch /etc/x", "touch /usr/x", "touch /bin/x",
                   "mount -o remount,rw /usr"}) {
    out = f.ok(cmd);
    INFO(cmd << ": " << out["stderr"]);
    CHECK(out["exit_code"] != 0);
  }
  CHECK(f.ok("touch /etc/x")["stderr"].get<std::string>().find(
          "Read-only file system") != std::string::npos);
  // /tmp is private: a file made there is gone with the sandbox and never
  // reaches the host's /tmp.
  auto marker = "troupe-shell-marker-" + std::to_string(::getpid());
  out = f.ok("touch /tmp/" + marker + " && ls /tmp");
  CHECK(out["stdout"] == marker + "\n");
  CHECK_FALSE(fs::exists(fs::path{"/tmp"} / marker));
  // The host's files outside the system directories are invisible.
  std::ofstream{f.tmp.path / "secret.txt"} << "secret";
  out = f.ok("cat " + (f.tmp.path / "secret.txt").string());
  CHECK(out["exit_code"] != 0);
  CHECK(out["stdout"] == "");
  out = f.ok("ls / ; touch /root/x; ls /work /home");
  CHECK(out["exit_code"] != 0);
  CHECK(out["stdout"] == "bin\ndev\netc\nlib\nlib64\nproc\nsbin\ntmp\nusr\n"
                         "workspace\n");
  // Host secrets under /etc are masked.
  CHECK(f.ok("cat /etc/shadow")["stdout"] == "");
}

TEST_CASE("shell: no network, not even the host's loopback", "[tools][shell]") {
  fixture f;
  unique_fd lst{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lst.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
          0);
  REQUIRE(::listen(lst.get(), 8) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(lst.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  auto port = std::to_string(ntohs(addr.sin_port));
  auto out = f.ok("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" + port +
                  "' && echo connected || echo refused");
  CHECK(out["stdout"] == "refused\n");
  CHECK(out["stderr"].get<std::string>().find("Connection refused") !=
        std::string::npos);
  pollfd pfd{lst.get(), POLLIN, 0};
  CHECK(::poll(&pfd, 1, 0) == 0); // nothing knocked
  // The same connect from the host works: the probe is sound.
  unique_fd c{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  CHECK(::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
        0);
  CHECK(f.ok("ls /sys/class/net 2>/dev/null; cat /proc/net/dev | "
             "tail -n +3 | cut -d: -f1 | tr -d ' '")["stdout"] == "lo\n");
}

TEST_CASE("shell: the CPU limit kills a busy loop", "[tools][shell]") {
  fixture f;
  f.cfg.cpu_seconds = 1;
  auto start = clock_type::now();
  auto out = f.ok("while :; do :; done");
  CHECK(clock_type::now() - start < 4s);
  CHECK(out["exit_code"].get<int>() > 128);
  auto sig = out["signal"].get<std::string>();
  CHECK((sig == "SIGXCPU" || sig == "SIGKILL"));
  CHECK(fs::is_empty(f.ws)); // no core file
}

TEST_CASE("shell: the deadline kills the sandbox and all in it",
          "[tools][shell]") {
  fixture f;
  context ctx;
  ctx.deadline = clock_type::now() + 300ms;
  auto start = clock_type::now();
  auto res = f.run("sleep 30", ctx);
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::timeout);
  CHECK(clock_type::now() - start < 2s);
  // The tool's own timeout works the same.
  f.cfg.timeout_ms = 300;
  start = clock_type::now();
  res = f.run("sleep 30");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::timeout);
  CHECK(clock_type::now() - start < 2s);
  // A process storm ends with the sandbox: no sleeper outlives the call.
  auto arg = "1.0" + std::to_string(::getpid() % 100000);
  start = clock_type::now();
  res = f.run("while :; do sleep " + arg + " & done");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::timeout);
  CHECK(clock_type::now() - start < 2s);
  CHECK_FALSE(sleep_running(arg));
  // The call ends with its command: what it left running dies with it.
  arg = "3" + arg;
  start = clock_type::now();
  auto out = f.ok("sleep " + arg + " & echo left");
  CHECK(out["stdout"] == "left\n");
  CHECK(clock_type::now() - start < 2s);
  CHECK_FALSE(sleep_running(arg));
}

TEST_CASE("shell: cancelling the call kills the sandbox", "[tools][shell]") {
  fixture f;
  context ctx;
  ctx.cancel = std::make_shared<cancellation>();
  auto begun = clock_type::time_point{};
  std::thread canceller{[&] {
    eventually([&] { return fs::exists(f.ws / "started"); });
    begun = clock_type::now();
    ctx.cancel->cancel();
  }};
  auto res = f.run("touch started; sleep 30", ctx);
  auto end = clock_type::now();
  canceller.join();
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::cancelled);
  CHECK(end - begun < 1s);
}

TEST_CASE("shell refuses to run without a working sandbox", "[tools][shell]") {
  fixture f;
  f.cfg.bwrap = "/nonexistent/bwrap";
  auto tool = shell_tool(f.cfg);
  for (int i = 0; i < 2; ++i) {
    auto res = tool.fn(json{{"command", "touch pwned"}}, {});
    REQUIRE_FALSE(res);
    CHECK(res.error().code == errc::sandbox_unavailable);
    CHECK(res.error().message.find("'/nonexistent/bwrap' does not exist") !=
          std::string::npos);
  }
  f.cfg.bwrap = "troupe-no-such-bwrap";
  auto res = f.run("touch pwned");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::sandbox_unavailable);
  CHECK(res.error().message.find("not installed") != std::string::npos);
  // A bubblewrap that cannot create namespaces: the real one, run where
  // user namespaces are disabled.
  auto wrapper = f.tmp.path / "nested-bwrap";
  std::ofstream{wrapper} << "#!/bin/sh\nexec bwrap --unshare-user "
                            "--disable-userns --ro-bind / / --dev /dev --proc "
                            "/proc -- bwrap \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all);
  f.cfg.bwrap = wrapper.string();
  res = f.run("touch pwned");
  REQUIRE_FALSE(res);
  CHECK(res.error().code == errc::sandbox_unavailable);
  CHECK(res.error().message.find("Creating new namespace failed") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(f.ws / "pwned"));
}

TEST_CASE("shell serves concurrent calls, preflight once", "[tools][shell]") {
  fixture f;
  auto tool = shell_tool(f.cfg);
  std::vector<std::string> outs(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < outs.size(); ++i)
    threads.emplace_back([&, i] {
      auto res = tool.fn(json{{"command", "echo " + std::to_string(i)}}, {});
      outs[i] = res ? (*res)["stdout"].get<std::string>() : res.error().message;
    });
  for (auto& t : threads)
    t.join();
  for (size_t i = 0; i < outs.size(); ++i)
    CHECK(outs[i] == std::to_string(i) + "\n");
}
