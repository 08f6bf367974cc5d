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
#include "guardrail/rules.hpp"
#include "cluster/certs.hpp"
#include "cluster/network.hpp"
#include "runtime/runtime.hpp"
#include "daemon/serve.hpp"
#include "core/log.hpp"
#include "memory/long_term.hpp"
#include "memory/tools.hpp"

#include <spdlog/spdlog.h>


namespace troupe::cli {

/// `troupe memory …`: the long-term store, used directly (no engine).
int memory_command(const options& opts) {
  if (opts.positional.empty())
    return usage_error("memory needs a subcommand: search, stats, export, "
                       "import or compact");
  auto& sub = opts.positional[0];
  auto args = opts.positional.size() - 1;
  auto want_args = sub == "search" || sub == "import" ? 1u : 0u;
  if (sub != "search" && sub != "stats" && sub != "export" &&
      sub != "import" && sub != "compact")
    return usage_error("unknown memory subcommand '" + sub + "'");
  if (args != want_args)
    return usage_error("memory " + sub + " takes " +
                       std::to_string(want_args) + " argument(s), got " +
                       std::to_string(args));
  auto ecfg = engine_config_from(opts);
  if (!ecfg) {
    std::cerr << "troupe: " << ecfg.error().message << "\n";
    return exit_usage;
  }
  auto lt = long_term_of(*ecfg);
  if (!lt) {
    std::cerr << "troupe: long-term memory is disabled (memory.long_term)\n";
    return exit_usage;
  }
  // Reading commands never create a store.
  auto writes = sub == "import" || sub == "compact";
  auto store = memory::long_term_store::open(
    *lt, writes ? memory::long_term_store::mode::read_write
                : memory::long_term_store::mode::read_only);
  if (!store && store.error().code == errc::not_found && !writes) {
    // Nothing stored yet: an empty answer, not an error.
    if (sub == "stats")
      std::cout << (opts.json ? "{\"memories\":0,\"expired\":0,"
                                "\"file_bytes\":0,\"namespaces\":{}}\n"
                              : "no memories yet in " + lt->file.string() +
                                  "\n");
    return exit_ok;
  }
  if (!store) {
    std::cerr << "troupe: " << store.error().message << "\n";
    return exit_task_failed;
  }
  auto& s = **store;
  auto ns = opts.ns.value_or(memory::memory_namespace("cli", opts.agent));
  auto fail = [](const failure& f) {
    std::cerr << "troupe: " << f.message << "\n";
    return f.code == errc::invalid_input ? exit_usage : exit_task_failed;
  };
  if (sub == "search") {
    auto hits = s.search(ns, opts.positional[1], opts.limit.value_or(5));
    if (!hits)
      return fail(hits.error());
    if (opts.json) {
      json out = json::array();
      for (auto& h : *hits)
        out.push_back({{"id", h.rec.id},
                       {"text", h.rec.text},
                       {"score", h.score},
                       {"created_ms", h.rec.created_ms}});
      std::cout << out.dump(2, ' ', false, json::error_handler_t::replace)
                << "\n";
    } else {
      for (auto& h : *hits)
        std::cout << h.rec.id << "\t" << h.rec.text << "\n";
    }
    return exit_ok;
  }
  if (sub == "stats") {
    auto st = s.stats();
    if (!st)
      return fail(st.error());
    if (opts.json) {
      json per = json::object();
      for (auto& [name, n] : st->namespaces)
        per[name] = n;
      std::cout << json{{"memories", st->memories},
                        {"expired", st->expired},
                        {"file_bytes", st->file_bytes},
                        {"namespaces", per}}
                     .dump(2)
                << "\n";
    } else {
      std::cout << "file: " << lt->file.string() << "\n"
                << "memories: " << st->memories << " (" << st->expired
                << " expired)\n"
                << "size: " << st->file_bytes << " bytes\n";
      for (auto& [name, n] : st->namespaces)
        std::cout << "  " << name << "\t" << n << "\n";
    }
    return exit_ok;
  }
  if (sub == "export") {
    auto n = s.export_jsonl(std::cout, opts.ns);
    if (!n)
      return fail(n.error());
    return exit_ok;
  }
  if (sub == "import") {
    auto& from = opts.positional[1];
    std::ifstream file;
    if (from != "-") {
      file.open(from);
      if (!file) {
        std::cerr << "troupe: cannot read '" << from << "'\n";
        return exit_usage;
      }
    }
    // As the memory role stores: with memory.redact_on_store (the
    // default), no card number or key reaches the file.
    memory::long_term_store::text_filter filter;
    if (ecfg->memory.redact_on_store) {
      auto rules = guardrail::load_configured(ecfg->guardrail);
      if (!rules) {
        std::cerr << "troupe: " << rules.error().message << "\n";
        return exit_usage;
      }
      filter = [r = (*rules)->current()](const std::string& text) {
        return guardrail::storable(r, text);
      };
    }
    auto n = s.import_jsonl(from == "-" ? std::cin : file, filter);
    if (!n)
      return fail(n.error());
    std::cout << "imported " << *n << " memories\n";
    return exit_ok;
  }
  auto c = s.compact();
  if (!c)
    return fail(c.error());
  std::cout << "removed " << c->expired_removed << " expired and "
            << c->over_cap_removed << " over-cap memories\n";
  return exit_ok;
}

} // namespace troupe::cli
