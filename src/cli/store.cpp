// `troupe store`: what the store holds (backend, schema version, tasks,
// threads, size), its tables created or migrated, its finished tasks
// pruned past `store.retention` — used directly, no engine.

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/options.hpp"
#include "core/json.hpp"
#include "store/store.hpp"

namespace troupe::cli {

namespace {

void print_info(const store::journal::info_type& i, bool as_json) {
  if (as_json) {
    std::cout << json{{"backend", i.backend},
                      {"where", i.where},
                      {"schema_version", i.schema_version},
                      {"tasks",
                       {{"unfinished", i.unfinished},
                        {"finished", i.finished}}},
                      {"steps", i.steps},
                      {"threads", i.threads},
                      {"bytes", i.bytes}}
                   .dump()
              << "\n";
    return;
  }
  std::cout << "backend:        " << i.backend << " (" << i.where << ")\n"
            << "schema version: " << i.schema_version << "\n"
            << "tasks:          " << i.unfinished << " unfinished, "
            << i.finished << " finished (" << i.steps << " steps)\n"
            << "threads:        " << i.threads << "\n"
            << "size:           "
            << (i.bytes < 0 ? std::string{"unknown"}
                            : std::to_string(i.bytes) + " bytes")
            << "\n";
}

} // namespace

int store_command(const options& opts) {
  auto sub = opts.positional.empty() ? std::string{"show"} : opts.positional[0];
  if (sub != "show" && sub != "migrate" && sub != "prune")
    return usage_error("unknown store subcommand '" + sub +
                       "' (show, migrate, prune)");
  if (opts.positional.size() > 1)
    return usage_error("store " + sub + " takes no argument");
  auto cfg = checked(engine_config_from(opts));
  if (!cfg) {
    std::cerr << "troupe: " << cfg.error().message << "\n";
    return exit_usage;
  }
  if (cfg->store.backend == "sqlite") {
    if (cfg->data_dir.empty())
      return usage_error("the store is in the data directory: give "
                         "--data-dir (or data_dir in the config)");
    // Showing never creates a journal.
    auto file = cfg->data_dir / "tasks.db";
    if (sub == "show" && !std::filesystem::exists(file)) {
      std::cout << (opts.json ? json{{"backend", "sqlite"},
                                     {"where", file.string()},
                                     {"exists", false}}
                                  .dump()
                              : "no task journal yet at " + file.string())
                << "\n";
      return exit_ok;
    }
  }
  auto opened = store::open_store(cfg->store, cfg->data_dir, true,
                                  [](const char* v) { return std::getenv(v); });
  if (!opened) {
    std::cerr << "troupe: " << opened.error().message << "\n";
    return opened.error().code == errc::invalid_config ? exit_usage
                                                       : exit_task_failed;
  }
  auto& j = *opened->journal;
  if (sub == "prune") {
    auto& r = cfg->store.retention;
    if (r.max_age_hours == 0 && r.max_tasks == 0) {
      std::cout << "store.retention keeps every finished task "
                   "(max_age_hours and max_tasks are 0): nothing to prune\n";
      return exit_ok;
    }
    auto n = j.prune_all(r);
    if (!n) {
      std::cerr << "troupe: " << n.error().message << "\n";
      return exit_task_failed;
    }
    if (opts.json)
      std::cout << json{{"pruned", *n}}.dump() << "\n";
    else
      std::cout << "pruned " << *n << " finished task(s)\n";
    return exit_ok;
  }
  auto i = j.info();
  if (!i) {
    std::cerr << "troupe: " << i.error().message << "\n";
    return exit_task_failed;
  }
  if (sub == "migrate" && !opts.json) {
    std::cout << "the " << i->backend << " store is at schema version "
              << i->schema_version << "\n";
    return exit_ok;
  }
  print_info(*i, opts.json);
  return exit_ok;
}

} // namespace troupe::cli
