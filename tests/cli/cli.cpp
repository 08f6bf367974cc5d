// The real `troupe` binary, run as a user would.

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/model_server.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace troupe::test;
using namespace std::chrono_literals;

namespace {

const char* quick_start =
  "What is 17 * 23 + 4? Remember that the launch is on Friday.";

} // namespace

TEST_CASE("troupe run prints the answer and what was remembered", "[cli]") {
  auto res = run_process({cli_path(), "run", quick_start});
  REQUIRE(res.exit_code == 0);
  CHECK(res.out.find("17 * 23 + 4 = 395") != std::string::npos);
  CHECK(res.out.find("Remembered:") != std::string::npos);
  CHECK(res.out.find("- the launch is on Friday") != std::string::npos);
}

TEST_CASE("troupe run --json gives the result with its steps", "[cli]") {
  auto res = run_process({cli_path(), "run", "--json", quick_start});
  REQUIRE(res.exit_code == 0);
  auto j = nlohmann::json::parse(res.out);
  CHECK(j["status"] == "completed");
  CHECK(j["error_code"].is_null());
  REQUIRE(j["steps"].size() == 1);
  auto& calls = j["steps"][0]["calls"];
  REQUIRE(calls.size() == 2);
  CHECK(calls[0]["name"] == "calculator");
  CHECK(calls[0]["arguments"]["expression"] == "17 * 23 + 4");
  CHECK(j["steps"][0]["results"][0]["output"]["result"] == 395);
  CHECK(j["remembered"] == nlohmann::json::array({"the launch is on Friday"}));
}

TEST_CASE("troupe run rejects bad input with a one-line reason", "[cli]") {
  auto res = run_process({cli_path(), "run", "<script>alert(1)</script>"});
  CHECK(res.exit_code == 1);
  CHECK(res.out.empty());
  CHECK(res.err.find("rejected") != std::string::npos);
  CHECK(res.err.find("script_tag") != std::string::npos);
  CHECK(std::count(res.err.begin(), res.err.end(), '\n') == 1);
}

TEST_CASE("troupe reports usage errors with exit code 2", "[cli]") {
  CHECK(run_process({cli_path(), "run"}).exit_code == 2);
  CHECK(run_process({cli_path(), "run", "--bogus", "x"}).exit_code == 2);
  CHECK(run_process({cli_path(), "frobnicate"}).exit_code == 2);
  CHECK(
    run_process({cli_path(), "run", "--log-level", "loud", "x"}).exit_code ==
    2);
  auto res = run_process(
    {cli_path(), "run", "--workspace", "/no/such/dir", "What is 1+1?"});
  CHECK(res.exit_code == 2);
  CHECK(res.err.find("/no/such/dir") != std::string::npos);
  auto cfg = run_process({cli_path(), "run", "--config", "/no/such.json", "x"});
  CHECK(cfg.exit_code == 2);
  CHECK(cfg.err.find("/no/such.json") != std::string::npos);
}

TEST_CASE("troupe --help and --version", "[cli]") {
  auto help = run_process({cli_path(), "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("troupe run") != std::string::npos);
  auto version = run_process({cli_path(), "--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out.rfind("troupe ", 0) == 0);
}

TEST_CASE("troupe run reads files inside --workspace only", "[cli]") {
  auto dir = std::filesystem::temp_directory_path() /
             ("troupe-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream{dir / "notes.txt"} << "launch checklist";
  auto ok = run_process({cli_path(), "run", "--workspace", dir.string(),
                         "Read the file notes.txt"});
  auto escape = run_process({cli_path(), "run", "--workspace", dir.string(),
                             "Read the file ../etc/passwd"});
  std::filesystem::remove_all(dir);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("launch checklist") != std::string::npos);
  CHECK(escape.exit_code == 0);
  CHECK(escape.out.find("outside the workspace") != std::string::npos);
}

TEST_CASE("troupe run uses the tool executor of a troupe node", "[cli][node]") {
  // Engine and node share the key tool-call approvals are signed with.
  setenv("TROUPE_APPROVAL_KEY", std::string(64, 'a').c_str(), 1);
  child_process node{
    {cli_path(), "node", "--role", "tools", "--listen", "127.0.0.1:0"}};
  auto line = node.wait_for_line("serving tools on", 20s);
  REQUIRE(line);
  auto endpoint = line->substr(line->rfind(' ') + 1);
  auto res =
    run_process({cli_path(), "run", "--tools", endpoint, "What is 2 ^ 10?"});
  CHECK(res.exit_code == 0);
  CHECK(res.out.find("2 ^ 10 = 1024") != std::string::npos);
  // A clean stop on SIGTERM.
  CHECK(node.stop(SIGTERM, 20s));
  // With the node gone, run says so at once.
  auto gone =
    run_process({cli_path(), "run", "--tools", endpoint, "What is 2 ^ 10?"});
  CHECK(gone.exit_code == 1);
  CHECK(gone.err.find("no node offering the tools role could be reached") !=
        std::string::npos);
}

TEST_CASE("troupe tools lists every tool with its schema", "[cli]") {
  auto res = run_process({cli_path(), "tools", "--json"});
  REQUIRE(res.exit_code == 0);
  auto j = nlohmann::json::parse(res.out);
  std::vector<std::string> names;
  for (auto& t : j) {
    names.push_back(t["name"]);
    CHECK(t["parameters"]["type"] == "object");
    CHECK_FALSE(t["description"].get<std::string>().empty());
  }
  CHECK(names == std::vector<std::string>{
                   "calculator", "http_get", "list_files", "read_file",
                   "shell", "write_file", "memory_store", "memory_recall"});
}

TEST_CASE("troupe tools call runs one tool through the guardrail and the "
          "executor",
          "[cli][tools]") {
  auto ok = run_process(
    {cli_path(), "tools", "call", "calculator", R"({"expression":"6*7"})"});
  CHECK(ok.exit_code == 0);
  CHECK(nlohmann::json::parse(ok.out)["result"] == 42.0);
  // Arguments against the schema: every problem, each naming its field.
  auto bad = run_process(
    {cli_path(), "tools", "call", "calculator", R"({"expr":1})"});
  CHECK(bad.exit_code == 1);
  auto err = nlohmann::json::parse(bad.out);
  CHECK(err["code"] == "invalid_arguments");
  CHECK_THAT(err["error"].get<std::string>(),
             Catch::Contains("argument 'expr': not allowed") &&
               Catch::Contains("argument 'expression': missing"));
  auto malformed =
    run_process({cli_path(), "tools", "call", "calculator", "{oops"});
  CHECK(malformed.exit_code == 1);
  CHECK(nlohmann::json::parse(malformed.out)["code"] == "invalid_arguments");
  auto unknown = run_process({cli_path(), "tools", "call", "no_such_tool"});
  CHECK(unknown.exit_code == 1);
  CHECK(nlohmann::json::parse(unknown.out)["code"] == "unknown_tool");
  auto usage = run_process({cli_path(), "tools", "frobnicate"});
  CHECK(usage.exit_code == 2);
  CHECK_THAT(usage.err, Catch::Contains("unknown tools command"));
}

TEST_CASE("troupe tools lists and calls an MCP server's tools from config",
          "[cli][tools][mcp]") {
  temp_dir dir{"cli-mcp"};
  auto server = std::string{TROUPE_SOURCE_DIR} +
                "/tests/mcp/node_modules/@modelcontextprotocol/"
                "server-everything/dist/index.js";
  auto cfg = dir.path / "mcp.json";
  std::ofstream{cfg} << nlohmann::json{
    {"mcp_servers",
     {{"everything", {{"command", "node"}, {"args", {server, "stdio"}}}}}},
    {"tools", {{"overrides", {{"everything__echo", {{"cache_ttl_ms", 5000}}}}}}}};
  auto list = run_process(
    {cli_path(), "--config", cfg.string(), "tools", "list", "--json"});
  REQUIRE(list.exit_code == 0);
  std::map<std::string, nlohmann::json> by_name;
  for (auto& t : nlohmann::json::parse(list.out))
    by_name[t["name"]] = t;
  REQUIRE(by_name.count("everything__echo") == 1);
  REQUIRE(by_name.count("everything__get-sum") == 1);
  CHECK(by_name["everything__echo"]["parameters"]["required"][0] == "message");
  CHECK(by_name["everything__echo"]["cache_ttl_ms"] == 5000);
  CHECK(by_name.count("calculator") == 1);
  auto echo = run_process({cli_path(), "--config", cfg.string(), "tools",
                           "call", "everything__echo", R"({"message":"hi"})"});
  CHECK(echo.exit_code == 0);
  CHECK_THAT(echo.out, Catch::Contains("Echo: hi"));
  // The engine checks the server's schema before the call goes out.
  auto bad = run_process({cli_path(), "--config", cfg.string(), "tools",
                          "call", "everything__get-sum", R"({"a":"x"})"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.out, Catch::Contains("argument 'a': wrong type"));
  // A server that cannot start: its tools are missing, and it says why.
  std::ofstream{cfg} << nlohmann::json{
    {"mcp_servers",
     {{"broken", {{"command", "/nonexistent/mcp-server"}}}}}};
  auto broken = run_process(
    {cli_path(), "--config", cfg.string(), "tools", "list", "--json"});
  CHECK(broken.exit_code == 0);
  CHECK_THAT(broken.err, Catch::Contains("MCP server 'broken'"));
}

TEST_CASE("troupe run --log-level info writes JSON log lines to stderr",
          "[cli]") {
  auto res =
    run_process({cli_path(), "run", "--log-level", "info", "What is 1 + 1?"});
  REQUIRE(res.exit_code == 0);
  CHECK(res.out.find("1 + 1 = 2") != std::string::npos);
  std::istringstream lines{res.err};
  std::vector<std::string> events;
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    CHECK(j.contains("ts"));
    CHECK(j["task"] == 1);
    CHECK(j["actor"].get<uint64_t>() > 0);
    events.push_back(j["event"]);
  }
  CHECK(events == std::vector<std::string>{"task_accepted", "task_finished"});
}

TEST_CASE("troupe run - reads the task from stdin", "[cli]") {
  auto res = run_process(
    {"/bin/sh", "-c", "printf 'What is 6 * 7?' | '" + cli_path() + "' run -"});
  CHECK(res.exit_code == 0);
  CHECK(res.out.find("6 * 7 = 42") != std::string::npos);
}

TEST_CASE("troupe run -- takes a task that starts with a dash", "[cli]") {
  auto res = run_process({cli_path(), "run", "--", "-5 + 3"});
  CHECK(res.exit_code == 0);
  CHECK(res.out.find("-5 + 3 = -2") != std::string::npos);
}

TEST_CASE("troupe run --tools gives up on a peer that never answers",
          "[cli][node]") {
  setenv("TROUPE_APPROVAL_KEY", std::string(64, 'b').c_str(), 1);
  // A listening socket that accepts connections (the kernel's backlog) and
  // never says a word: the handshake must time out, not hang.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto endpoint = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto dir = std::filesystem::temp_directory_path() /
             ("troupe-cfg-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream{dir / "cfg.json"} << R"({"timeouts": {"role_ms": 500}})";
  auto res =
    run_process({cli_path(), "run", "--config", (dir / "cfg.json").string(),
                 "--tools", endpoint, "What is 1+1?"},
                std::chrono::seconds{20});
  ::close(fd);
  std::filesystem::remove_all(dir);
  CHECK_FALSE(res.timed_out);
  CHECK(res.exit_code == 1);
  CHECK(res.err.find("no node offering the tools role could be reached") !=
        std::string::npos);
}

TEST_CASE("troupe run --trace shows the supervision tree", "[cli][supervisor]") {
  auto res = run_process({cli_path(), "run", "--trace", "What is 1 + 1?"});
  REQUIRE(res.exit_code == 0);
  CHECK(res.out.find("1 + 1 = 2") != std::string::npos);
  CHECK(res.err.find("supervision tree:\nroot\n") != std::string::npos);
  CHECK(res.err.find("├── providers") != std::string::npos);
  CHECK(res.err.find("│   ├── provider ") != std::string::npos);
  CHECK(res.err.find("└── tasks") != std::string::npos);
  auto json_res =
    run_process({cli_path(), "run", "--json", "--trace", "What is 1 + 1?"});
  REQUIRE(json_res.exit_code == 0);
  auto j = nlohmann::json::parse(json_res.out);
  REQUIRE(j["supervision"].is_array());
  bool saw_tools = false;
  for (auto& row : j["supervision"])
    if (row["name"] == "tools") {
      saw_tools = true;
      CHECK(row["parent"] == "tool_executors");
      CHECK(row["state"] == "running");
    }
  CHECK(saw_tools);
}

TEST_CASE("troupe run --fault drills a role and shows the restarts",
          "[cli][supervisor]") {
  // Every second planner message crashes: the task's second planning step
  // is retried on the restarted planner (which the task waits for, so the
  // trace shows the restart).
  auto res = run_process({cli_path(), "run", "--trace", "--json", "--fault",
                          "planner:crash:0.5", "What is 2 + 2?"});
  REQUIRE(res.exit_code == 0);
  auto j = nlohmann::json::parse(res.out);
  CHECK(j["status"] == "completed");
  bool restarted = false;
  for (auto& row : j["supervision"])
    if (row["parent"] == "planners" && row["restarts"].get<int>() >= 1)
      restarted = row["last_exit"].get<std::string>().find(
                    "injected crash in planner") != std::string::npos;
  CHECK(restarted);
  // Each restart is one JSON log line with the reason. (A planner crash,
  // because the task waits for the restarted planner: the line is written
  // before the answer.)
  auto logged = run_process({cli_path(), "run", "--log-level", "warn",
                             "--fault", "planner:crash:0.5", "What is 2 + 2?"});
  REQUIRE(logged.exit_code == 0);
  size_t restart_lines = 0;
  std::istringstream lines{logged.err};
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["event"] == "child_exited" && j["action"] == "restart") {
      ++restart_lines;
      CHECK(j["supervisor"] == "planners");
      CHECK(j["child"].get<std::string>().rfind("planner", 0) == 0);
      CHECK(j["reason"].get<std::string>().find("injected crash") !=
            std::string::npos);
    }
  }
  CHECK(restart_lines >= 1);
  for (auto bad : {"planner", "planner:melt:0.5", "kitchen:crash:1",
                   "planner:crash:0", "planner:crash:x"}) {
    auto r = run_process({cli_path(), "run", "--fault", bad, "hi"});
    INFO(bad << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--fault expects ROLE:MODE:RATE") != std::string::npos);
  }
}

TEST_CASE("troupe run exits 3 when the root supervisor gives up",
          "[cli][supervisor]") {
  auto dir = std::filesystem::temp_directory_path() /
             ("troupe-giveup-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream{dir / "cfg.json"}
    << R"({"supervision": {"root": {"intensity": 0},
                           "planners": {"intensity": 0}},
           "provider": {"fallback": []}})";
  auto res = run_process({cli_path(), "run", "--config",
                          (dir / "cfg.json").string(), "--fault",
                          "planner:crash:1", "What is 1+1?"},
                         std::chrono::seconds{20});
  std::filesystem::remove_all(dir);
  CHECK_FALSE(res.timed_out);
  CHECK(res.exit_code == 3);
  CHECK(res.err.find("troupe: the engine stopped: supervisor 'root' gave up") !=
        std::string::npos);
}

TEST_CASE("a fact remembered by one troupe run is recalled by the next",
          "[cli][memory]") {
  temp_dir d{"cli-mem"};
  auto dir = (d.path / "data").string();
  auto first = run_process({cli_path(), "run", "--data-dir", dir,
                            "Remember that the launch is on Friday."});
  REQUIRE(first.exit_code == 0);
  auto second =
    run_process({cli_path(), "run", "--data-dir", dir,
                 "What do you remember about the launch?"});
  REQUIRE(second.exit_code == 0);
  CHECK(second.out.find("the launch is on Friday") != std::string::npos);
  CHECK(second.out.find("Recalled:\n  - the launch is on Friday (long-term)") !=
        std::string::npos);
  // Another agent has its own memory; an agent that shares the default
  // one's namespace sees it.
  auto agents = (d.path / "agents.json").string();
  std::ofstream{agents} << R"({"agents": {"scout": {},
                                "twin": {"memory": {"namespace": "default"}}}})";
  auto other = run_process({cli_path(), "run", "--config", agents, "--data-dir",
                            dir, "--agent", "scout",
                            "What do you remember about the launch?"});
  REQUIRE(other.exit_code == 0);
  CHECK(other.out.find("Friday") == std::string::npos);
  auto twin = run_process({cli_path(), "run", "--config", agents, "--data-dir",
                           dir, "--agent", "twin",
                           "What do you remember about the launch?"});
  REQUIRE(twin.exit_code == 0);
  CHECK(twin.out.find("Friday") != std::string::npos);
  // An agent the config does not have: a usage error naming those it has.
  auto unknown = run_process({cli_path(), "run", "--config", agents, "--data-dir",
                              dir, "--agent", "nobody", "hi"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains(
                            "unknown agent 'nobody' (agents: default, scout, "
                            "twin)"));
  // The default data directory is $XDG_DATA_HOME/troupe.
  temp_dir xdg{"cli-xdg"};
  auto with_xdg = run_process(
    {"/usr/bin/env", "XDG_DATA_HOME=" + xdg.path.string(), cli_path(), "run",
     "Remember that the xdg test ran."});
  REQUIRE(with_xdg.exit_code == 0);
  CHECK(std::filesystem::exists(xdg.path / "troupe" / "memory.db"));
}

TEST_CASE("troupe memory searches, counts, exports and imports",
          "[cli][memory]") {
  temp_dir d{"cli-memcmd"};
  auto dir = (d.path / "data").string();
  // Nothing stored yet: empty answers, and no store is created.
  auto empty = run_process({cli_path(), "memory", "--data-dir", dir, "stats"});
  CHECK(empty.exit_code == 0);
  CHECK(empty.out.find("no memories yet") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(d.path / "data" / "memory.db"));
  auto jsonl = d.path / "in.jsonl";
  std::ofstream{jsonl}
    << R"({"namespace":"cli/default","text":"the launch is on Friday"})"
    << "\n"
    << R"({"namespace":"cli/default","text":"lunch is at noon"})" << "\n"
    << R"({"namespace":"cli/scout","text":"the launch pad is ready"})" << "\n";
  auto imported = run_process(
    {cli_path(), "memory", "--data-dir", dir, "import", jsonl.string()});
  REQUIRE(imported.exit_code == 0);
  CHECK(imported.out == "imported 3 memories\n");
  auto found = run_process({cli_path(), "memory", "--data-dir", dir, "--json",
                            "search", "launch"});
  REQUIRE(found.exit_code == 0);
  auto hits = nlohmann::json::parse(found.out);
  REQUIRE(hits.size() == 1);
  CHECK(hits[0]["text"] == "the launch is on Friday");
  // Hostile queries are words, never FTS or SQL syntax errors.
  for (auto q : {"\"unbalanced", "NEAR(launch", "launch*", "'); DROP TABLE x"}) {
    auto r = run_process({cli_path(), "memory", "--data-dir", dir, "search", q});
    INFO(q << ": " << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
  }
  auto stats = run_process(
    {cli_path(), "memory", "--data-dir", dir, "--json", "stats"});
  REQUIRE(stats.exit_code == 0);
  auto st = nlohmann::json::parse(stats.out);
  CHECK(st["memories"] == 3);
  CHECK(st["namespaces"]["cli/scout"] == 1);
  auto exported = run_process({cli_path(), "memory", "--data-dir", dir,
                               "--namespace", "cli/scout", "export"});
  REQUIRE(exported.exit_code == 0);
  CHECK(exported.out.find("the launch pad is ready") != std::string::npos);
  CHECK(exported.out.find("Friday") == std::string::npos);
  // A bad line names its number, and nothing of the file is imported.
  std::ofstream{d.path / "bad.jsonl"}
    << R"({"namespace":"cli/default","text":"ok"})" << "\n{oops\n";
  auto bad = run_process({cli_path(), "memory", "--data-dir", dir, "import",
                          (d.path / "bad.jsonl").string()});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.rfind("troupe: line 2: the record is not valid JSON: ", 0) == 0);
  auto after = run_process(
    {cli_path(), "memory", "--data-dir", dir, "--json", "stats"});
  CHECK(nlohmann::json::parse(after.out)["memories"] == 3);
  auto usage = run_process({cli_path(), "memory", "frobnicate"});
  CHECK(usage.exit_code == 2);
}

TEST_CASE("a corrupt memory database is a clear error", "[cli][memory]") {
  temp_dir d{"cli-corrupt"};
  std::ofstream{d.path / "memory.db"}
    << "this is not a database at all, not even close to one, no....";
  auto r = run_process({cli_path(), "run", "--data-dir", d.path.string(),
                        "What is 1+1?"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("cannot open memory store '" +
                   (d.path / "memory.db").string() + "'") != std::string::npos);
}

TEST_CASE("a tool node and a client need the same approval key",
          "[cli][node]") {
  unsetenv("TROUPE_APPROVAL_KEY");
  auto no_key = run_process(
    {cli_path(), "node", "--role", "tools", "--listen", "127.0.0.1:0"});
  CHECK(no_key.exit_code == 2);
  CHECK(no_key.err.find("node needs TROUPE_APPROVAL_KEY") != std::string::npos);
  auto client = run_process(
    {cli_path(), "run", "--tools", "127.0.0.1:1", "What is 1+1?"});
  CHECK(client.exit_code == 2);
  CHECK(client.err.find("need TROUPE_APPROVAL_KEY") !=
        std::string::npos);
  // A node with another key refuses the client's calls.
  setenv("TROUPE_APPROVAL_KEY", std::string(64, 'c').c_str(), 1);
  child_process node{
    {cli_path(), "node", "--role", "tools", "--listen", "127.0.0.1:0"}};
  auto line = node.wait_for_line("serving tools on", 20s);
  REQUIRE(line);
  auto endpoint = line->substr(line->rfind(' ') + 1);
  setenv("TROUPE_APPROVAL_KEY", std::string(64, 'd').c_str(), 1);
  auto refused = run_process(
    {cli_path(), "run", "--json", "--tools", endpoint, "What is 2 ^ 10?"});
  auto j = nlohmann::json::parse(refused.out);
  REQUIRE(j["steps"].size() >= 1);
  auto& result = j["steps"][0]["results"][0];
  CHECK(result["ok"] == false);
  CHECK(result["output"]["error"].get<std::string>().find(
          "its approval is not valid for this call") != std::string::npos);
  CHECK(node.stop(SIGTERM, 20s));
}

TEST_CASE("troupe access hashes a key and tells whose it is", "[cli]") {
  auto hashed = run_process(
    {"/bin/sh", "-c", "echo 'my-key-0123456789' | '" + cli_path() +
                        "' access hash-key"});
  REQUIRE(hashed.exit_code == 0);
  REQUIRE(hashed.out.size() == 65);
  auto digest = hashed.out.substr(0, 64);
  temp_dir dir;
  auto cfg = dir.path / "troupe.json";
  std::ofstream{cfg} << R"({"access": {"principals": {"alice": "user"},
    "api_keys": [{"principal": "alice", "sha256": ")"
                     << digest << "\"}]}}";
  auto whoami = [&](const std::string& key) {
    return run_process({"/bin/sh", "-c",
                        "echo '" + key + "' | '" + cli_path() +
                          "' access whoami --config '" + cfg.string() + "'"});
  };
  auto known = whoami("my-key-0123456789");
  CHECK(known.exit_code == 0);
  CHECK(known.out == "alice\tuser\n");
  auto unknown = whoami("another-key-0123456789");
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err == "troupe: the key belongs to no principal\n");
  auto too_short = whoami("short");
  CHECK(too_short.exit_code == 2);
}

TEST_CASE("troupe run --provider drives a model API", "[cli][provider]") {
  model_server srv;
  setenv("OPENAI_API_KEY", "sk-cli-test-0123456789", 1);
  auto res = run_process({cli_path(), "run", "--json", "--provider", "openai",
                          "--model", "test-model", "--base-url", srv.base_url(),
                          "What is 17 * 23 + 4?"});
  INFO(res.err);
  REQUIRE(res.exit_code == 0);
  auto j = nlohmann::json::parse(res.out);
  CHECK(j["answer"] == "The answer is 395.");
  CHECK(j["provider"] == "provider");
  CHECK(j["usage"]["prompt_tokens"] == 84);
  CHECK(srv.requests().size() == 2);
  unsetenv("OPENAI_API_KEY");
  auto no_key = run_process({cli_path(), "run", "--provider", "openai", "--model",
                             "m", "What is 1 + 1?"});
  CHECK(no_key.exit_code == 2);
  CHECK(no_key.err.find("the API key variable OPENAI_API_KEY is not set") !=
        std::string::npos);
  auto bad_kind = run_process({cli_path(), "run", "--provider", "gpt", "x"});
  CHECK(bad_kind.exit_code == 2);
  CHECK(bad_kind.err.find("provider.kind must be offline, openai or anthropic") !=
        std::string::npos);
}

TEST_CASE("troupe node and serve say what is wrong with their cluster "
          "settings",
          "[cli][node]") {
  setenv("TROUPE_APPROVAL_KEY", std::string(64, 'e').c_str(), 1);
  auto no_listen = run_process({cli_path(), "node", "--roles", "tools"});
  CHECK(no_listen.exit_code == 2);
  CHECK_THAT(no_listen.err, Catch::Contains("node needs --listen HOST:PORT"));
  auto only_api = run_process({cli_path(), "node", "--roles", "api",
                               "--listen", "127.0.0.1:0"});
  CHECK(only_api.exit_code == 2);
  CHECK_THAT(only_api.err, Catch::Contains("at least one of planner, memory, "
                                           "tools"));
  auto unknown = run_process({cli_path(), "node", "--roles", "tools,chef",
                              "--listen", "127.0.0.1:0"});
  CHECK(unknown.exit_code == 2);
  CHECK_THAT(unknown.err, Catch::Contains("unknown role 'chef'"));
  auto bad_seed = run_process(
    {cli_path(), "run", "--seeds", "nowhere", "What is 1+1?"});
  CHECK(bad_seed.exit_code == 2);
  CHECK_THAT(bad_seed.err, Catch::Contains("'nowhere' is not HOST:PORT"));
  auto no_api = run_process(
    {cli_path(), "serve", "--roles", "tools", "--listen", "127.0.0.1:0"},
    std::chrono::seconds{20});
  CHECK(no_api.exit_code == 2);
  CHECK_THAT(no_api.err, Catch::Contains("leaves out api"));
  unsetenv("TROUPE_APPROVAL_KEY");
}

TEST_CASE("troupe memory import redacts as the memory role stores",
          "[cli][memory][hardening]") {
  const std::string card = "4111 1111 1111 1111";
  temp_dir d{"cli-import-card"};
  auto jsonl = d.path / "in.jsonl";
  std::ofstream{jsonl} << R"({"namespace":"cli/default","text":"my card is )"
                       << card << "\"}\n";
  auto import_and_export = [&](const std::string& dir,
                               std::vector<std::string> extra) {
    std::vector<std::string> args{cli_path(), "memory", "--data-dir", dir};
    args.insert(args.end(), extra.begin(), extra.end());
    auto in = args;
    in.insert(in.end(), {"import", jsonl.string()});
    auto imported = run_process(in);
    INFO(imported.err);
    REQUIRE(imported.exit_code == 0);
    args.push_back("export");
    auto exported = run_process(args);
    REQUIRE(exported.exit_code == 0);
    return exported.out;
  };
  // The default: masked before it reaches the file.
  auto masked = import_and_export((d.path / "a").string(), {});
  CHECK(masked.find(card) == std::string::npos);
  CHECK_THAT(masked, Catch::Contains("my card is [REDACTED:card]"));
  // An operator who opts out stores the text as it is.
  auto cfg = (d.path / "raw.json").string();
  std::ofstream{cfg} << R"({"memory": {"redact_on_store": false}})";
  auto raw = import_and_export((d.path / "b").string(), {"--config", cfg});
  CHECK_THAT(raw, Catch::Contains("my card is " + card));
}

TEST_CASE("troupe run keeps a card number out of every part of its result "
          "and out of memory.db",
          "[cli][memory][hardening]") {
  const std::string card = "4111 1111 1111 1111";
  temp_dir d{"cli-card"};
  auto dir = (d.path / "data").string();
  auto first = run_process({cli_path(), "run", "--data-dir", dir, "--json",
                            "Remember that my card is " + card});
  REQUIRE(first.exit_code == 0);
  CHECK(first.out.find(card) == std::string::npos);
  CHECK_THAT(first.out, Catch::Contains("[REDACTED:card]"));
  auto text = run_process({cli_path(), "run", "--data-dir", dir,
                           "What do you remember about my card?"});
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find(card) == std::string::npos);
  CHECK_THAT(text.out, Catch::Contains("Recalled:\n  - my card is "
                                       "[REDACTED:card]"));
  auto json = run_process({cli_path(), "run", "--data-dir", dir, "--json",
                           "What do you remember about my card?"});
  REQUIRE(json.exit_code == 0);
  CHECK(json.out.find(card) == std::string::npos);
  auto j = nlohmann::json::parse(json.out);
  REQUIRE_FALSE(j["memories"].empty());
  CHECK_THAT(j["memories"][0]["text"].get<std::string>(),
             Catch::Contains("[REDACTED:card]"));
  std::string bytes;
  for (auto file : {"memory.db", "memory.db-wal"}) {
    std::ifstream in{d.path / "data" / file, std::ios::binary};
    bytes.append(std::istreambuf_iterator<char>{in}, {});
  }
  CHECK_FALSE(bytes.empty());
  CHECK(bytes.find(card) == std::string::npos);
  CHECK(bytes.find("[REDACTED:card]") != std::string::npos);
}

TEST_CASE("a config file nested too deep is a clear error, exit code 2",
          "[cli][config][hardening]") {
  temp_dir d{"cli-deep"};
  auto file = d.path / "deep.json";
  std::ofstream{file} << "{\"memory\": " << std::string(200'000, '[')
                      << std::string(200'000, ']') << "}";
  auto res = run_process(
    {cli_path(), "run", "--config", file.string(), "What is 1 + 1?"});
  CHECK(res.exit_code == 2);
  CHECK_THAT(res.err, Catch::Contains("nests deeper than 64 levels"));
  CHECK(std::count(res.err.begin(), res.err.end(), '\n') == 1);
  auto env = run_process({"/usr/bin/env",
                          "TROUPE_TOOLS_OVERRIDES=" + std::string(100, '{'),
                          cli_path(), "run", "What is 1 + 1?"});
  CHECK(env.exit_code == 2);
  CHECK_THAT(env.err, Catch::Contains("TROUPE_TOOLS_OVERRIDES"));
}

TEST_CASE("a node listening beyond loopback without TLS needs "
          "cluster.insecure",
          "[cli][node][hardening]") {
  setenv("TROUPE_APPROVAL_KEY", std::string(64, 'e').c_str(), 1);
  auto refused = run_process(
    {cli_path(), "node", "--roles", "tools", "--listen", "0.0.0.0:0"});
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Catch::Contains("cluster.insecure") &&
                            Catch::Contains("0.0.0.0:0"));
  temp_dir d{"cli-insecure"};
  auto cfg = (d.path / "node.json").string();
  std::ofstream{cfg} << R"({"cluster": {"insecure": true}})";
  // stderr joins stdout, to read the warning (shown at any log level).
  child_process node{{"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", cli_path(),
                      "node", "--config", cfg, "--roles", "tools", "--listen",
                      "0.0.0.0:0"}};
  auto warned = node.wait_for_line("warning: cluster.insecure", 20s);
  REQUIRE(warned);
  CHECK_THAT(*warned, Catch::Contains("0.0.0.0:0"));
  CHECK(node.wait_for_line("serving tools on", 20s));
  CHECK(node.stop(SIGTERM, 20s));
  unsetenv("TROUPE_APPROVAL_KEY");
}
