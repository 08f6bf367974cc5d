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
#include "cli/conversation.hpp"
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

std::variant<std::unique_ptr<runtime::app>, int>
start_for_tasks(const engine_config& ecfg, const options& opts) {
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
  // Tasks: wait (bounded) for a node offering each missing role.
  spec.wait = runtime::route_wait::required;
  spec.node_failed_exit = exit_usage;
  return runtime::app::start(ecfg, spec);
}

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
  auto started = start_for_tasks(ecfg, opts);
  if (auto code = std::get_if<int>(&started))
    return *code;
  auto& app = *std::get<std::unique_ptr<runtime::app>>(started);
  auto& sys = app.system();
  auto* eng = &app.engine();
  // A thread: its earlier turns go first, and this one is appended.
  std::unique_ptr<cli_thread> thread;
  auto agent_name = opts.agent;
  if (opts.thread) {
    auto t = cli_thread::open(ecfg.data_dir, *opts.thread,
                              opts.agent == "default" ? "" : opts.agent);
    if (!t)
      return usage_error(t.error().message);
    thread = std::move(*t);
    agent_name = thread->agent();
  }
  auto agent = eng->agents()->find(agent_name);
  if (!agent)
    return usage_error(agents::unknown_agent(agent_name, *eng->agents()));
  auto input = text;
  task_request req{0, thread ? thread->id() : opts.session, "cli",
                   std::move(text), agent_name};
  if (thread)
    req.history = thread->history(sys, *eng, *agent);
  // The runner answers by its task deadline; the margin covers the hops.
  auto deadline = agent->timeout + std::chrono::seconds{5};
  // Text prints as the model streams it (not with --json); what was
  // printed is not printed again.
  auto ran = run_streamed(sys, *eng, std::move(req), deadline, !opts.json);
  auto& result = ran.result;
  auto& err = ran.error;
  if (thread && result && result->status == task_status::completed)
    thread->append(input, *result);
  auto streamed = std::make_shared<std::string>(std::move(ran.printed));
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
