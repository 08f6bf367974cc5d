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
#include <caf/event_based_actor.hpp>
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

/// `troupe run`: one task, its answer on stdout.
int run_command(const options& opts) {
  if (opts.positional.size() != 1)
    return usage_error("run takes exactly one task text, got " +
                       std::to_string(opts.positional.size()));
  auto loaded = engine_config_for_run(opts);
  if (!loaded)
    return exit_usage;
  auto& ecfg = *loaded;
  auto text = opts.positional[0];
  if (text == "-") {
    // Read at most one byte more than the guardrail accepts: enough for it
    // to reject an oversized input by its size, never a silent truncation.
    auto cap = ecfg.guardrail.max_input_bytes + 1;
    text.clear();
    char buf[4096];
    while (text.size() < cap &&
           (std::cin.read(buf, static_cast<std::streamsize>(
                                 std::min(sizeof(buf), cap - text.size()))) ||
            std::cin.gcount() > 0))
      text.append(buf, static_cast<size_t>(std::cin.gcount()));
  }
  if (opts.agent != agents::default_agent && !ecfg.agents.count(opts.agent)) {
    std::string known{agents::default_agent};
    for (auto& [name, _] : ecfg.agents)
      if (name != agents::default_agent)
        known += ", " + name;
    return usage_error("unknown agent '" + opts.agent + "' (agents: " + known +
                       ")");
  }
  runtime::app_spec spec;
  spec.key_unclustered = true;
  spec.key_missing = "--tools and --seeds need TROUPE_APPROVAL_KEY (64 hex "
                     "digits, the same on every node): tool nodes run only "
                     "calls the guardrail signed with it (see troupe --help)";
  // One task: wait (bounded) for a node offering each missing role.
  spec.wait = runtime::route_wait::required;
  spec.node_failed_exit = exit_usage;
  auto started = runtime::app::start(ecfg, spec);
  if (auto code = std::get_if<int>(&started))
    return *code;
  auto& app = *std::get<std::unique_ptr<runtime::app>>(started);
  auto& sys = app.system();
  auto* eng = &app.engine();
  task_request req{0, opts.session, "cli", std::move(text), opts.agent};
  // The runner answers by its task deadline; the margin covers the hops.
  auto agent = eng->agents()->find(opts.agent);
  auto deadline = (agent ? agent->timeout : ecfg.timeouts.task) +
                  std::chrono::seconds{5};
  std::optional<task_result> result;
  caf::error err;
  // Text prints as the model streams it (not with --json): the observer
  // writes each piece as it comes; what it wrote is compared with the
  // answer at the end.
  auto streamed = std::make_shared<std::string>();
  caf::actor printer;
  if (!opts.json)
    printer = sys.spawn([streamed](caf::event_based_actor*) -> caf::behavior {
      return {
        [streamed](token_atom, uint64_t, const std::string& delta) {
          *streamed += delta;
          std::cout << delta << std::flush;
        },
        [](began_atom, uint64_t, uint64_t, const step_record&) {},
        [](step_atom, uint64_t, uint64_t, const step_record&) {},
      };
    });
  {
    caf::scoped_actor self{sys};
    auto asked = printer ? self->request(eng->tasks(), deadline, run_atom::value,
                                         std::move(req), printer)
                         : self->request(eng->tasks(), deadline,
                                         run_atom::value, std::move(req));
    std::move(asked).receive([&](task_result& r) { result = std::move(r); },
                             [&](caf::error& e) { err = std::move(e); });
  }
  if (printer) {
    // Every piece was sent before the result: stop the printer after them.
    caf::scoped_actor self{sys};
    self->send_exit(printer, caf::exit_reason::user_shutdown);
    self->wait_for(printer);
  }
  // What was printed already (the answer as it streamed) is not printed
  // again; anything else printed means a fresh line before the rest.
  auto text_of = [&](const task_result& r) {
    auto text = to_text(r);
    if (streamed->empty())
      return text;
    if (text.compare(0, streamed->size(), *streamed) == 0)
      return text.substr(streamed->size());
    return "\n" + text;
  };
  auto gave_up = eng->gave_up();
  auto tree = eng->supervision();
  if (!result) {
    std::cerr << "troupe: task failed: " << describe(err) << "\n";
  } else if (opts.json) {
    auto out = to_json(*result);
    if (opts.trace)
      out["supervision"] = to_json(tree);
    if (gave_up)
      out["engine_stopped"] = *gave_up;
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace)
              << "\n";
  } else if (result->status == task_status::completed) {
    std::cout << text_of(*result);
  } else {
    if (!streamed->empty())
      std::cout << "\n";
    std::cerr << "troupe: task " << to_string(result->status) << " ("
              << result->error_code << "): " << result->answer << "\n";
  }
  if (opts.trace && !opts.json)
    std::cerr << "supervision tree:\n" << supervision_text(tree);
  if (gave_up) {
    std::cerr << "troupe: the engine stopped: " << *gave_up << "\n";
    return exit_engine_down;
  }
  if (!result || result->status != task_status::completed)
    return exit_task_failed;
  return exit_ok;
}

} // namespace troupe::cli
