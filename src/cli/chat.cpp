// `troupe chat`: a conversation in the terminal with one agent, kept as a
// thread (in the data directory's journal), its answers printed as the
// model streams them.

#include <iostream>
#include <string>

#include "cli/conversation.hpp"
#include "cli/options.hpp"
#include "guardrail/approval.hpp"

namespace troupe::cli {

int chat_command(const options& opts) {
  if (!opts.positional.empty())
    return usage_error("chat takes no task text (it reads them from the "
                       "terminal), got " +
                       std::to_string(opts.positional.size()));
  auto loaded = engine_config_for_run(opts);
  if (!loaded)
    return exit_usage;
  auto& ecfg = *loaded;
  auto id = opts.thread.value_or(
    "chat-" + guardrail::approval_key::random().hex().substr(0, 12));
  auto thread = cli_thread::open(ecfg.data_dir, id,
                                 opts.agent == "default" ? "" : opts.agent);
  if (!thread)
    return usage_error(thread.error().message);
  auto& t = **thread;
  auto started = start_for_tasks(ecfg, opts);
  if (auto code = std::get_if<int>(&started))
    return *code;
  auto& app = *std::get<std::unique_ptr<runtime::app>>(started);
  auto agent = app.engine().agents()->find(t.agent());
  if (!agent)
    return usage_error(agents::unknown_agent(t.agent(), *app.engine().agents()));
  std::cout << "troupe chat with agent '" << t.agent() << "', thread '"
            << t.id() << "' (go on later with --thread " << t.id()
            << "; /exit ends)\n";
  std::string line;
  for (;;) {
    std::cout << "you> " << std::flush;
    if (!std::getline(std::cin, line) || line == "/exit")
      break;
    if (line.empty())
      continue;
    task_request req{0, t.id(), "cli", line, t.agent()};
    req.history = t.history(app.system(), app.engine(), *agent);
    auto ran = run_streamed(app.system(), app.engine(), std::move(req),
                            agent->timeout + std::chrono::seconds{5}, true);
    if (!ran.result) {
      std::cout << "troupe: task failed: " << describe(ran.error) << "\n";
      continue;
    }
    auto& r = *ran.result;
    if (r.status != task_status::completed) {
      std::cout << (ran.printed.empty() ? "" : "\n") << "troupe: task "
                << to_string(r.status) << " (" << r.error_code
                << "): " << r.answer << "\n";
      continue;
    }
    if (ran.printed.empty())
      std::cout << r.answer;
    std::cout << "\n";
    t.append(line, r);
  }
  std::cout << "\n";
  return exit_ok;
}

} // namespace troupe::cli
