// `troupe chat` in a real terminal (tmux): a prompt, streamed answers,
// /exit; and `troupe run --thread`, whose turns go on the same thread in
// the data directory's journal.

#include <chrono>
#include <string>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "store/sqlite_journal.hpp"
#include "support/model_server.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using namespace troupe;
using namespace troupe::test;
using namespace std::chrono_literals;

namespace {

/// A tmux server of its own (its socket named for this process), killed
/// when the test ends.
struct terminal {
  std::string socket = "troupe-test-" + std::to_string(getpid());

  ~terminal() {
    run_process({"/usr/bin/env", "tmux", "-L", socket, "kill-server"}, 5s);
  }

  process_result tmux(std::vector<std::string> args) const {
    args.insert(args.begin(), {"/usr/bin/env", "tmux", "-L", socket});
    return run_process(args, 10s);
  }

  std::string screen() const {
    return tmux({"capture-pane", "-p", "-t", "chat", "-S", "-100"}).out;
  }

  /// Waits (up to 20 s) until the screen shows `text`.
  bool shows(const std::string& text) const {
    auto until = std::chrono::steady_clock::now() + 20s;
    while (screen().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= until)
        return false;
      // A bounded poll: the terminal has no event to wait on.
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }
};

store::journaled_thread thread_of(const std::filesystem::path& data,
                                   const std::string& id) {
  auto j = store::open_sqlite_journal(data / "tasks.db", false);
  REQUIRE(j);
  auto t = (*j)->get_thread(id);
  REQUIRE(t);
  return *t;
}

size_t messages_of(const std::filesystem::path& data, const std::string& id) {
  return thread_of(data, id).messages.size();
}

} // namespace

TEST_CASE("troupe chat talks in a terminal and keeps the thread",
          "[cli][chat]") {
  temp_dir d{"cli-chat"};
  auto data = d.path / "data";
  terminal term;
  // The shell says how the program ended, then stays (the pane with it).
  auto command = std::string{cli_path()} + " chat --data-dir " + data.string() +
                 " --thread talk; echo chat-exit=$?; sleep 600";
  REQUIRE(term.tmux({"new-session", "-d", "-s", "chat", "-x", "160", "-y",
                     "40", command})
            .exit_code == 0);
  REQUIRE(term.shows("thread 'talk'"));
  REQUIRE(term.shows("you>")); // the pane drops trailing blanks
  term.tmux({"send-keys", "-t", "chat", "What is 2 + 2?", "Enter"});
  CHECK(term.shows("2 + 2 = 4."));
  term.tmux({"send-keys", "-t", "chat", "What is 3 * 3?", "Enter"});
  CHECK(term.shows("3 * 3 = 9."));
  term.tmux({"send-keys", "-t", "chat", "/exit", "Enter"});
  // The program ends, with 0.
  CHECK(term.shows("chat-exit=0"));
  CHECK(messages_of(data, "talk") == 8);
  // The same thread from `troupe run --thread`.
  auto more = run_process({cli_path(), "run", "--data-dir", data.string(),
                           "--thread", "talk", "What is 1 + 1?"});
  CHECK(more.exit_code == 0);
  CHECK(more.out.find("1 + 1 = 2.") != std::string::npos);
  CHECK(messages_of(data, "talk") == 12);
  // A thread of another agent than the one asked for: a usage error.
  auto other = run_process({cli_path(), "run", "--data-dir", data.string(),
                            "--thread", "talk", "--agent", "nobody", "hi"});
  CHECK(other.exit_code == 2);
  auto bad = run_process({cli_path(), "run", "--data-dir", data.string(),
                          "--thread", "../x", "hi"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--thread must be") != std::string::npos);
}

TEST_CASE("troupe run --thread summarizes the turns past the budget with "
          "history: summarize",
          "[cli][chat]") {
  using nlohmann::json;
  model_server srv;
  srv.script([](size_t, const json& body) {
    model_server::plan p;
    if (!body.contains("tools")) {
      p.normal = false;
      p.body = text_answer("SUMMARY-CLI");
    }
    return p;
  });
  temp_dir d{"cli-summary"};
  auto data = d.path / "data";
  auto config = d.path / "troupe.json";
  std::ofstream{config} << json{
    {"provider", provider_json(srv)},
    {"agents",
     {{"brief", {{"history_tokens", 300}, {"history", "summarize"}}}}}};
  auto ask = [&](const std::string& text) {
    return run_process({cli_path(), "run", "--config", config.string(),
                        "--data-dir", data.string(), "--agent", "brief",
                        "--thread", "long", text});
  };
  REQUIRE(ask("What is 1 + 1? " + std::string(2000, 'x')).exit_code == 0);
  auto second = ask("What is 2 + 2?");
  CHECK(second.exit_code == 0);
  CHECK(second.out.find("The answer is 4.") != std::string::npos);
  auto t = thread_of(data, "long");
  CHECK(t.summary == "SUMMARY-CLI");
  CHECK(t.summarized == 4);
  REQUIRE(ask("What is 3 + 3?").exit_code == 0);
  auto seen = srv.requests();
  // Turn 1: two requests; turn 2: the summary, then two; turn 3: two.
  REQUIRE(seen.size() == 7);
  CHECK_FALSE(seen[2].body.contains("tools"));
  for (size_t i : {3, 5}) {
    INFO("request " << i);
    auto first = seen[i].body["messages"][0];
    CHECK(first["role"] == "system");
    CHECK(first["content"].get<std::string>().find("SUMMARY-CLI") !=
          std::string::npos);
    CHECK(seen[i].body.dump().find(std::string(2000, 'x')) == std::string::npos);
  }
  CHECK(messages_of(data, "long") == 12);
}
