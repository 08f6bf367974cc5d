#pragma once

// What `troupe run` and `troupe chat` share: one task on a running engine
// with its text printed as the model streams it, and a conversation thread
// kept in the data directory's journal (the daemon's tasks.db), so a
// thread goes on across commands and with the API.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>

#include "actors/engine.hpp"
#include "cli/options.hpp"
#include "runtime/runtime.hpp"
#include "core/result.hpp"
#include "core/types.hpp"
#include "store/journal.hpp"

namespace troupe::cli {

/// The engine for `run` and `chat` (the agent checked first, a cluster's
/// roles waited for): the app, or the exit code after the error was
/// printed. Defined in run.cpp.
std::variant<std::unique_ptr<runtime::app>, int>
start_for_tasks(const engine_config& ecfg, const options& opts);

/// How one task went: its result (or the error), and the text printed
/// while it streamed.
struct streamed_task {
  std::optional<task_result> result;
  caf::error error;
  std::string printed;
};

/// Runs `req` on `eng` within `deadline`; with `print`, the model's text
/// goes to stdout as it comes.
streamed_task run_streamed(caf::actor_system& sys, const engine& eng,
                           task_request req, std::chrono::milliseconds deadline,
                           bool print);

/// A conversation thread of the principal "cli" in `data_dir`/tasks.db.
class cli_thread {
public:
  /// Opens thread `id` (creating it for `agent` if it is not there);
  /// `agent` empty: the thread's own. Fails if it is another principal's,
  /// or was made for another agent than a given one.
  static result<std::unique_ptr<cli_thread>>
  open(const std::filesystem::path& data_dir, const std::string& id,
       const std::string& agent);

  const std::string& id() const {
    return thread_.id;
  }
  const std::string& agent() const {
    return thread_.agent;
  }

  /// The earlier turns a run of `agent` gets: within its history budget,
  /// the turns past it summarized by its model on `eng` first (kept in
  /// the journal; `history: "summarize"`) or left out. A summary that
  /// fails is reported on stderr and the run goes on without those turns.
  std::vector<chat_message> history(caf::actor_system& sys, const engine& eng,
                                    const agents::agent& agent);

  /// Appends the turn of a completed task (committed when this returns).
  void append(const std::string& input, const task_result& r);

private:
  std::unique_ptr<store::journal> journal_;
  store::journaled_thread thread_;
  std::vector<chat_message> messages_;
};

} // namespace troupe::cli
