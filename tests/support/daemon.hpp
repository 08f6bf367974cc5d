#pragma once

// Test support: `troupe serve` as a child process in a temp directory, on
// a free port, with API keys for an admin ("ops") and a user ("alice"),
// driven over HTTP as a client would.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/http_client.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

namespace troupe::test {

using namespace std::chrono_literals;
using nlohmann::json;

inline constexpr const char* admin_key = "admin-key-0123456789";
inline constexpr const char* alice_key = "alice-key-0123456789";

/// A daemon in a temp directory, with the given extra config (merged into
/// one with an admin "ops" and a user "alice"); killed when it goes.
struct daemon_proc {
  temp_dir dir{"serve"};
  std::unique_ptr<child_process> proc;
  uint16_t port = 0;
  json config;

  explicit daemon_proc(json extra = json::object()) {
    config = {{"access",
               {{"principals", {{"cli", "admin"}, {"ops", "admin"}, {"alice", "user"}}}}},
              {"serve", {{"listen", "127.0.0.1:0"}}}};
    config.merge_patch(extra);
    write_config(config.dump());
    setenv("TROUPE_API_KEYS",
           (std::string{"ops:"} + admin_key + ",alice:" + alice_key).c_str(), 1);
    start();
  }

  std::filesystem::path config_file() const {
    return dir.path / "troupe.json";
  }

  void write_config(const std::string& text) const {
    std::ofstream{config_file()} << text;
  }

  void start() {
    proc = std::make_unique<child_process>(std::vector<std::string>{
      cli_path(), "serve", "--config", config_file().string(), "--data-dir",
      (dir.path / "data").string()});
    auto line = proc->wait_for_line("serving on", 20s);
    REQUIRE(line);
    port = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  }

  std::optional<http_response>
  call(const std::string& method, const std::string& path,
       const std::string& body = {}, const char* key = admin_key,
       std::vector<std::pair<std::string, std::string>> headers = {}) const {
    if (key)
      headers.emplace_back("Authorization", std::string{"Bearer "} + key);
    bool typed = std::any_of(headers.begin(), headers.end(),
                             [](auto& h) { return h.first == "Content-Type"; });
    if (method == "POST" && !body.empty() && !typed)
      headers.emplace_back("Content-Type", "application/json");
    return http_call(port, method, path, body, headers);
  }

  /// POSTs a task; returns its id.
  uint64_t submit(const std::string& input, const char* key = admin_key) const {
    auto res = call("POST", "/v1/tasks", json{{"input", input}}.dump(), key);
    REQUIRE(res);
    REQUIRE(res->status == 202);
    return json::parse(res->body)["id"].get<uint64_t>();
  }

  /// Waits (up to 10 s) until task `id` has a step under way, journaled.
  void wait_step_under_way(uint64_t id) const {
    auto until = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto got = call("GET", "/v1/tasks/" + std::to_string(id));
      REQUIRE(got);
      if (!json::parse(got->body)["step_under_way"].is_null())
        return;
      REQUIRE(std::chrono::steady_clock::now() < until);
      // A bounded poll on the daemon's own state.
      std::this_thread::sleep_for(10ms);
    }
  }

  /// Follows a task's event stream to its end; returns the events.
  std::vector<std::pair<std::string, std::string>>
  follow(uint64_t id, const char* key = admin_key) const {
    auto res = call("GET", "/v1/tasks/" + std::to_string(id) + "/events", {},
                    key);
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return parse_events(res->body);
  }
};

/// The error code of a JSON error response.
inline std::string error_code(const std::optional<http_response>& res) {
  REQUIRE(res);
  auto j = json::parse(res->body, nullptr, false);
  REQUIRE(j.is_object());
  return j["error"]["code"].get<std::string>();
}

} // namespace troupe::test
