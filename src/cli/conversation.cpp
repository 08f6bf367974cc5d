#include "cli/conversation.hpp"

#include <condition_variable>
#include <iostream>
#include <mutex>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "core/names.hpp"
#include "daemon/history.hpp"
#include "daemon/model_call.hpp"
#include "store/sqlite_journal.hpp"

namespace troupe::cli {

streamed_task run_streamed(caf::actor_system& sys, const engine& eng,
                           task_request req, std::chrono::milliseconds deadline,
                           bool print) {
  streamed_task out;
  auto printed = std::make_shared<std::string>();
  caf::actor printer;
  if (print)
    printer = sys.spawn([printed](caf::event_based_actor*) -> caf::behavior {
      return {
        [printed](token_atom, uint64_t, const std::string& delta) {
          *printed += delta;
          std::cout << delta << std::flush;
        },
        [](began_atom, uint64_t, uint64_t, const step_record&) {},
        [](step_atom, uint64_t, uint64_t, const step_record&) {},
      };
    });
  {
    caf::scoped_actor self{sys};
    auto asked = printer ? self->request(eng.tasks(), deadline, run_atom::value,
                                         std::move(req), printer)
                         : self->request(eng.tasks(), deadline,
                                         run_atom::value, std::move(req));
    std::move(asked).receive(
      [&](task_result& r) { out.result = std::move(r); },
      [&](caf::error& e) { out.error = std::move(e); });
  }
  if (printer) {
    // Every piece was sent before the result: the printer stops after
    // them.
    caf::scoped_actor self{sys};
    self->send_exit(printer, caf::exit_reason::user_shutdown);
    self->wait_for(printer);
    out.printed = std::move(*printed);
  }
  return out;
}

result<std::unique_ptr<cli_thread>>
cli_thread::open(const std::filesystem::path& data_dir, const std::string& id,
                 const std::string& agent) {
  if (!valid_name(id))
    return failure{errc::invalid_input,
                   "--thread must be 1-64 characters of A-Z a-z 0-9 _ . -, "
                   "got '" + id + "'"};
  auto j = store::open_sqlite_journal(data_dir / "tasks.db", true);
  if (!j)
    return j.error();
  auto out = std::unique_ptr<cli_thread>{new cli_thread};
  out->journal_ = std::move(*j);
  if (auto t = out->journal_->get_thread(id)) {
    if (t->principal != "cli")
      return failure{errc::not_found, "no thread '" + id + "' of the command "
                                      "line (it is another principal's)"};
    if (!agent.empty() && t->agent != agent)
      return failure{errc::invalid_input,
                     "thread '" + id + "' is agent '" + t->agent +
                       "''s, not '" + agent + "'"};
    out->thread_ = std::move(*t);
  } else {
    store::journaled_thread fresh;
    fresh.id = id;
    fresh.principal = "cli";
    fresh.agent = agent.empty() ? "default" : agent;
    fresh.created_ms = store::now_ms();
    std::mutex m;
    std::condition_variable cv;
    std::optional<result<bool>> made;
    out->journal_->create_thread(fresh, [&](result<bool> ok) {
      std::lock_guard guard{m};
      made = std::move(ok);
      cv.notify_one();
    });
    std::unique_lock lock{m};
    cv.wait(lock, [&] { return made.has_value(); });
    if (!*made)
      return made->error();
    out->thread_ = std::move(fresh);
  }
  for (auto& text : out->thread_.messages)
    if (auto j = parse_json(text, "a thread message"))
      if (auto m = daemon::message_from_json(*j))
        out->messages_.push_back(std::move(*m));
  return out;
}

std::vector<chat_message> cli_thread::history(caf::actor_system& sys,
                                              const engine& eng,
                                              const agents::agent& agent) {
  auto& t = thread_;
  auto plan = daemon::plan_history(messages_, t.summary, t.summarized,
                                   agent.history_tokens,
                                   agent.summarize_history);
  if (plan.to_summarize.empty())
    return daemon::with_summary(agent.summarize_history ? t.summary : "",
                                std::move(plan.kept));
  std::mutex m;
  std::condition_variable cv;
  std::optional<result<std::string>> summary;
  daemon::tool_free_completion(
    sys, eng, agent.name, 0,
    daemon::summary_request(t.summary, plan.to_summarize, agent.history_tokens),
    [&](result<std::string> r) {
      std::lock_guard guard{m};
      summary = std::move(r);
      cv.notify_one();
    });
  {
    // It answers by the agent's timeout at the latest.
    std::unique_lock lock{m};
    cv.wait(lock, [&] { return summary.has_value(); });
  }
  if (!*summary) {
    std::cerr << "troupe: could not summarize the thread's earlier turns ("
              << summary->error().message << "); they are left out\n";
    return daemon::with_summary(t.summary, std::move(plan.kept));
  }
  t.summary = **summary;
  t.summarized += plan.to_summarize.size();
  journal_->set_summary(t.id, t.summary, t.summarized);
  journal_->flush();
  return daemon::with_summary(t.summary, std::move(plan.kept));
}

void cli_thread::append(const std::string& input, const task_result& r) {
  std::vector<std::string> turn;
  for (auto& m : daemon::turn_of(input, r)) {
    turn.push_back(dump(daemon::message_json(m, 0)));
    messages_.push_back(std::move(m));
  }
  // Run 0: the command line's turns are no task of the journal's.
  journal_->finish_turn(0, "completed", "", thread_.id, std::move(turn));
  journal_->flush();
}

} // namespace troupe::cli
