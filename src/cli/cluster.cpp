#include "cli/options.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <curl/curl.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/all.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/engine.hpp"
#include "actors/tool_executor.hpp"
#include "cluster/node.hpp"
#include "cli/render.hpp"
#include "core/codec.hpp"
#include "config/config.hpp"
#include "cluster/certs.hpp"
#include "cluster/network.hpp"
#include "runtime/runtime.hpp"
#include "daemon/serve.hpp"
#include "core/log.hpp"
#include "memory/long_term.hpp"
#include "memory/tools.hpp"

#include <spdlog/spdlog.h>


namespace troupe::cli {

namespace {

/// `troupe cluster gen-certs DIR [NODE...]`: a test cluster CA and a
/// certificate per node (default: node-1, node-2, node-3).
/// `troupe cluster status HOST:PORT`: a daemon's tool nodes, from its
/// /v1/cluster (API key from TROUPE_API_KEY).
int cluster_status(const options& opts) {
  if (opts.positional.size() != 2)
    return usage_error("cluster status takes the daemon's HOST:PORT");
  auto url = "http://" + opts.positional[1] + "/v1/cluster";
  std::string body;
  long status = 0;
  auto curl = curl_easy_init();
  if (curl == nullptr)
    return exit_task_failed;
  curl_slist* headers = nullptr;
  if (auto key = std::getenv("TROUPE_API_KEY"); key && *key)
    headers = curl_slist_append(headers,
                                (std::string{"Authorization: Bearer "} + key)
                                  .c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
    curl, CURLOPT_WRITEFUNCTION,
    +[](char* data, size_t size, size_t n, void* out) -> size_t {
      static_cast<std::string*>(out)->append(data, size * n);
      return size * n;
    });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  auto rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    std::cerr << "troupe: cannot reach " << url << ": "
              << curl_easy_strerror(rc) << "\n";
    return exit_task_failed;
  }
  auto doc = parse_json(body, "the answer").value_or(json{});
  if (status != 200 || !doc.is_object() || !doc.contains("nodes")) {
    std::cerr << "troupe: " << url << " answered " << status << ": " << body
              << "\n";
    return exit_task_failed;
  }
  if (opts.json) {
    std::cout << doc.dump(2) << "\n";
    return exit_ok;
  }
  if (doc["nodes"].empty()) {
    std::cout << "not clustered: this daemon runs every role itself\n";
    return exit_ok;
  }
  std::cout << "NODE\tADDRESS\tROLES\tSTATE\tLOAD\tRTT µs\tSENT\tRECEIVED\t"
               "PENDING\tLOST\tLAST ERROR\n";
  auto text = [](const json& x) {
    return x.is_string() ? x.get<std::string>() : std::string{};
  };
  for (auto& n : doc["nodes"]) {
    std::string roles;
    for (auto& r : n.value("roles", json::array()))
      roles += (roles.empty() ? "" : ",") + text(r);
    std::cout << text(n["name"]) << "\t"
              << (text(n["where"]).empty() ? "-" : text(n["where"])) << "\t"
              << roles << "\t" << text(n["state"]) << "\t"
              << n.value("load", 0) << "\t"
              << static_cast<long>(n.value("rtt_us", 0.0)) << "\t"
              << n.value("sent", 0) << "\t" << n.value("received", 0) << "\t"
              << n.value("pending", 0) << "\t" << n.value("lost", 0) << "\t"
              << text(n["last_error"]) << "\n";
  }
  return exit_ok;
}

} // namespace

int cluster_command(const options& opts) {
  if (!opts.positional.empty() && opts.positional[0] == "status")
    return cluster_status(opts);
  if (opts.positional.empty() || opts.positional[0] != "gen-certs")
    return usage_error("cluster takes gen-certs DIR [NODE...] or status "
                       "HOST:PORT");
  if (opts.positional.size() < 2)
    return usage_error("cluster gen-certs needs the directory to write to");
  std::filesystem::path dir = opts.positional[1];
  std::vector<std::string> nodes(opts.positional.begin() + 2,
                                 opts.positional.end());
  if (nodes.empty())
    nodes = {"node-1", "node-2", "node-3"};
  if (auto ok = cluster::generate_certs(dir, nodes); !ok) {
    std::cerr << "troupe: " << ok.error().message << "\n";
    return exit_usage;
  }
  std::cout << "wrote " << (dir / "ca.pem").string() << " and "
            << (dir / "ca.key").string() << " (the cluster CA; keep ca.key "
            << "off the nodes)\n";
  for (auto& n : nodes)
    std::cout << "wrote " << (dir / (n + ".pem")).string() << " and "
              << (dir / (n + ".key")).string() << "\n";
  std::cout << "each node's config: \"cluster\": {\"tls\": {\"certificate\": "
               "\"<node>.pem\", \"key\": \"<node>.key\", \"cafile\": "
               "\"ca.pem\"}}\n";
  return exit_ok;
}

} // namespace troupe::cli
