#pragma once

// The whole engine's protocol in one place: atoms, the typed-actor interface
// of every role, the `inspect` overloads that let each message cross a node,
// and the type-ID block that registers them under stable names.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <cmath>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/type_id.hpp>
#include <caf/typed_actor.hpp>

#include "memory/long_term.hpp"
#include "core/errc.hpp"
#include "core/types.hpp"

CAF_ERROR_CODE_ENUM(troupe::errc, "troupe")

namespace troupe {

// -- atoms (at most 10 characters each)
// ----------------------------------------

using run_atom = caf::atom_constant<caf::atom("run")>;
using plan_atom = caf::atom_constant<caf::atom("plan")>;
using complete_atom = caf::atom_constant<caf::atom("complete")>;
using check_input_atom = caf::atom_constant<caf::atom("check_in")>;
using check_output_atom = caf::atom_constant<caf::atom("check_out")>;
using authorize_atom = caf::atom_constant<caf::atom("authorize")>;
using reload_atom = caf::atom_constant<caf::atom("reload")>;
using call_atom = caf::atom_constant<caf::atom("call")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using store_atom = caf::atom_constant<caf::atom("store")>;
using recall_atom = caf::atom_constant<caf::atom("recall")>;
using event_atom = caf::atom_constant<caf::atom("event")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using step_atom = caf::atom_constant<caf::atom("step")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using began_atom = caf::atom_constant<caf::atom("began")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using routes_atom = caf::atom_constant<caf::atom("routes")>;
using token_atom = caf::atom_constant<caf::atom("token")>;

/// The error category under which `errc` values travel in `caf::error`.
constexpr caf::atom_value error_category = caf::atom("troupe");

// -- roles
// ------------------------------------------------------------------------

/// Monitor: receives every event, counts them, writes JSON log lines.
using monitor_actor = caf::typed_actor<
  /// Records one event (fire and forget: the monitor never slows a task).
  caf::reacts_to<event_atom, event>,
  /// Returns the event counters.
  caf::replies_to<stats_atom>::with<monitor_stats>>;

/// The long-term store's single writer: batches stores into one
/// transaction and answers each after the commit (acknowledged = durable).
using memory_writer_actor = caf::typed_actor<
  caf::replies_to<store_atom, memory::record, tool_invocation>::with<
    tool_result>,
  caf::reacts_to<flush_atom>>;

/// One of the long-term store's readers: ranked recall, merged with the
/// session's own hits (passed along), so recall never waits behind writes.
using memory_reader_actor = caf::typed_actor<
  caf::replies_to<recall_atom, recall_query,
                  std::vector<memory_hit>>::with<std::vector<memory_hit>>,
  caf::replies_to<call_atom, tool_invocation,
                  std::vector<memory_hit>>::with<tool_result>>;

/// Memory: short-term per-session store with keyword recall.
using memory_actor = caf::typed_actor<
  /// Stores a text in a session; returns the entry id.
  caf::replies_to<store_atom, std::string, std::string>::with<uint64_t>,
  /// Returns the best hits for a query, best first.
  caf::replies_to<recall_atom, recall_query>::with<std::vector<memory_hit>>,
  /// Runs the memory tools (`memory_store`, `memory_recall`).
  caf::replies_to<call_atom, tool_invocation>::with<tool_result>>;

/// Guardrail: input checks before any tool runs.
using guardrail_actor = caf::typed_actor<
  /// Allows or denies a task's input, with a reason.
  caf::replies_to<check_input_atom, task_request>::with<verdict>,
  /// Checks an output (a final answer, or a tool result if the flag is
  /// set): allow (with flagged rules named in the reason), redact (the
  /// masked text) or deny (the blocking rule in the reason).
  caf::replies_to<check_output_atom, std::string, bool>::with<verdict>,
  /// Authorises a tool call for its principal: the call back with a signed
  /// approval, or `forbidden` naming the missing permission.
  caf::replies_to<authorize_atom, tool_invocation>::with<tool_invocation>,
  /// Re-reads the rules file: the number of rules now in force, or the
  /// error (with its line) while the old rules stay.
  caf::replies_to<reload_atom>::with<uint64_t>>;

/// One node of a cluster as the others know it.
struct member_info {
  /// Unique in the cluster (default: the address it listens on).
  std::string name;
  /// "host:port" it listens on; empty for a node that only connects out
  /// (a `troupe run` with seeds): the others answer it but never dial it.
  std::string where;
  /// The roles it offers ("api", "planner", "memory", "tools").
  std::vector<std::string> roles;
  /// Random per start: a restarted node is a new incarnation.
  uint64_t incarnation = 0;
  /// Its role handles by instance name ("planner", "planner.1", "memory",
  /// "tools"); only in a node's own entry, sent by itself (an entry passed
  /// on by a third node carries the address alone: the handles would be
  /// routed through that node).
  std::map<std::string, caf::actor> handles;
  /// Its node actor (with the handles).
  caf::actor node;
};

/// A node's own cluster actor, published on its listen port: how nodes
/// meet, learn each other's roles and watch each other.
using node_actor = caf::typed_actor<
  /// A node introduces itself (or gossips): the answer is this node's own
  /// entry (with its handles) followed by every other node it knows up.
  caf::replies_to<hello_atom, member_info>::with<std::vector<member_info>>,
  /// A network round trip: the value back, and this node's load (messages
  /// waiting in its roles' mailboxes).
  caf::replies_to<ping_atom, uint64_t>::with<uint64_t, uint64_t>,
  /// This node's own roles changed (one restarted): tell the others now.
  caf::reacts_to<reload_atom>,
  /// Internal: time to ping, gossip and reconnect.
  caf::reacts_to<tick_atom>>;

/// Tool executor: the tool registry and the calls into it.
using tool_executor_actor = caf::typed_actor<
  /// Runs one tool call; tool failures come back as a failed `tool_result`,
  /// an error reply means the executor itself could not serve the call.
  caf::replies_to<call_atom, tool_invocation>::with<tool_result>,
  /// Lists the tools it serves (name, description, JSON Schema).
  caf::replies_to<list_atom>::with<std::vector<tool_spec>>,
  /// Cancels the calls of the task with this id still running: each ends
  /// with a `cancelled` result (a subprocess is killed).
  caf::reacts_to<cancel_atom, uint64_t>>;

/// LLM provider: a completion for a conversation (the offline rule-based
/// provider and real HTTP providers share this interface).
using provider_actor = caf::typed_actor<
  /// Completes a conversation: tool calls or a final answer.
  caf::replies_to<complete_atom, chat_request>::with<chat_response>>;

/// A provider that streams: the engine's own (offline and HTTP). One an
/// embedder supplies needs only `provider_actor`; its answers then reach
/// observers whole.
using streaming_provider_actor = provider_actor::extend<
  /// Completes a conversation, sending the answer's text to `sink` as it
  /// comes, piece by piece, before the answer: `(token_atom, delta)`.
  caf::replies_to<complete_atom, chat_request, caf::actor>::with<
    chat_response>>;

/// Planner: the next step of a task (tool calls or a final answer).
using planner_actor = caf::typed_actor<
  /// Decides the next step for the conversation so far.
  caf::replies_to<plan_atom, plan_request>::with<chat_response>,
  /// The same, the model's text streamed to `sink` as it comes
  /// (`(token_atom, std::string delta)`, before the answer).
  caf::replies_to<plan_atom, plan_request, caf::actor>::with<chat_response>>;

/// The task manager: where tasks go.
using task_actor = caf::typed_actor<
  /// Runs a task to its end and answers with its result.
  caf::replies_to<run_atom, task_request>::with<task_result>,
  /// The same, telling `observer` of each step as it begins,
  /// `(began_atom, task id, step index, step_record without results)`, as
  /// it finishes, `(step_atom, task id, step index, step_record)`, and of
  /// the model's text as it streams, `(token_atom, task id, delta)`
  /// (filtered as the answer is).
  caf::replies_to<run_atom, task_request, caf::actor>::with<task_result>,
  /// Cancels the running task with this id: true if one was running (it
  /// then ends with status cancelled), false if none.
  caf::replies_to<cancel_atom, uint64_t>::with<bool>>;

/// One task's runner, as its task manager sees it.
using task_runner_actor = caf::typed_actor<
  /// Runs the task; `observer` (may be null) hears of each finished step.
  caf::replies_to<run_atom, task_request, caf::actor>::with<task_result>,
  /// The task's deadline passed: fail it now, saying what it waited for.
  caf::reacts_to<deadline_atom>,
  /// Time to retry the planner request of the current step.
  caf::reacts_to<retry_atom>,
  /// Time to retry tool call N of the current step.
  caf::reacts_to<retry_atom, uint64_t>,
  /// A piece of the model's text as it streams (from the provider).
  caf::reacts_to<token_atom, std::string>>;

/// The task manager as it sees itself.
using task_manager_actor = task_actor::extend<
  /// Time to check the running tasks' deadlines.
  caf::reacts_to<tick_atom>>;

// -- inspect overloads
// ------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_call& x) {
  return f(caf::meta::type_name("tool_call"), x.id, x.name, x.arguments);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chat_message& x) {
  return f(caf::meta::type_name("chat_message"), x.role, x.content,
           x.tool_calls, x.tool_call_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_spec& x) {
  return f(caf::meta::type_name("tool_spec"), x.name, x.description,
           x.parameters, x.idempotent, x.permissions, x.timeout_ms,
           x.cache_ttl_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_list& x) {
  // Writers (serializer, printer) read the shared list in place; readers
  // fill `tmp`, which the callback then shares.
  std::vector<tool_spec> tmp;
  auto& ref =
    Inspector::reads_state ? const_cast<std::vector<tool_spec>&>(x.get()) : tmp;
  return f(caf::meta::type_name("tool_list"), ref,
           caf::meta::load_callback([&]() -> caf::error {
             x = tool_list{std::move(tmp)};
             return caf::none;
           }));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chat_request& x) {
  return f(caf::meta::type_name("chat_request"), x.messages, x.tools, x.model,
           x.response_schema);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_usage& x) {
  return f(caf::meta::type_name("token_usage"), x.prompt, x.completion);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, chat_response& x) {
  return f(caf::meta::type_name("chat_response"), x.content, x.tool_calls,
           x.usage);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_request& x) {
  return f(caf::meta::type_name("task_request"), x.id, x.session, x.principal,
           x.text, x.agent, x.history, x.resume, x.resumed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, approval& x) {
  return f(caf::meta::type_name("approval"), x.expires_ms, x.nonce, x.mac);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_invocation& x) {
  return f(caf::meta::type_name("tool_invocation"), x.call, x.task_id,
           x.session, x.principal, x.agent, x.grant, x.idempotency_key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tool_result& x) {
  return f(caf::meta::type_name("tool_result"), x.call_id, x.name, x.ok,
           x.output);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_record& x) {
  return f(caf::meta::type_name("step_record"), x.calls, x.results);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_result& x) {
  return f(caf::meta::type_name("task_result"), x.id, x.status, x.answer,
           x.error_code, x.steps, x.notes, x.memories, x.usage, x.provider);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, memory_hit& x) {
  // CAF 0.17 reads any all-ones exponent as an infinity or NaN, and then
  // loops forever writing it out again (fuzz/peer_message): a score from a
  // peer must be finite.
  return f(caf::meta::type_name("memory_hit"), x.id, x.text, x.score,
           x.origin, caf::meta::load_callback([&]() -> caf::error {
             if (!std::isfinite(x.score))
               x.score = 0;
             return caf::none;
           }));
}

namespace memory {

// In the record's own namespace, where argument-dependent lookup finds it.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record& x) {
  return f(caf::meta::type_name("memory_record"), x.id, x.ns, x.text,
           x.created_ms, x.expires_ms, x.source_task, x.tags);
}

} // namespace memory

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recall_query& x) {
  return f(caf::meta::type_name("recall_query"), x.session, x.query, x.limit,
           x.principal, x.agent);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, verdict& x) {
  return f(caf::meta::type_name("verdict"), x.action, x.reason, x.text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("event"), x.kind, x.task_id, x.actor_id,
           x.detail);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, monitor_stats& x) {
  return f(caf::meta::type_name("monitor_stats"), x.counts, x.restarts,
           x.escalations);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, plan_request& x) {
  return f(caf::meta::type_name("plan_request"), x.task_id, x.session,
           x.history, x.provider, x.model, x.tools, x.response_schema);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_info& x) {
  return f(caf::meta::type_name("member_info"), x.name, x.where, x.roles,
           x.incarnation, x.handles, x.node);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_status& x) {
  return f(caf::meta::type_name("child_status"), x.name, x.running, x.restarts,
           x.parent, x.state, x.last_exit);
}

/// Adds Troupe's message types, error category and actor handles to `cfg`.
/// Every actor system that runs Troupe roles (or talks to them over the
/// network) must call this before it starts.
void register_types(caf::actor_system_config& cfg);

} // namespace troupe

// -- type IDs: stable names for every message
// -------------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(troupe, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(troupe, (troupe::tool_call))
CAF_ADD_TYPE_ID(troupe, (troupe::chat_message))
CAF_ADD_TYPE_ID(troupe, (troupe::tool_spec))
CAF_ADD_TYPE_ID(troupe, (troupe::chat_request))
CAF_ADD_TYPE_ID(troupe, (troupe::chat_response))
CAF_ADD_TYPE_ID(troupe, (troupe::task_request))
CAF_ADD_TYPE_ID(troupe, (troupe::tool_invocation))
CAF_ADD_TYPE_ID(troupe, (troupe::tool_result))
CAF_ADD_TYPE_ID(troupe, (troupe::step_record))
CAF_ADD_TYPE_ID(troupe, (troupe::task_result))
CAF_ADD_TYPE_ID(troupe, (troupe::memory_hit))
CAF_ADD_TYPE_ID(troupe, (troupe::recall_query))
CAF_ADD_TYPE_ID(troupe, (troupe::verdict))
CAF_ADD_TYPE_ID(troupe, (troupe::event))
CAF_ADD_TYPE_ID(troupe, (troupe::monitor_stats))
CAF_ADD_TYPE_ID(troupe, (troupe::plan_request))
CAF_ADD_TYPE_ID(troupe, (std::vector<troupe::tool_spec>))
CAF_ADD_TYPE_ID(troupe, (std::vector<troupe::memory_hit>))
CAF_ADD_TYPE_ID(troupe, (troupe::child_status))
CAF_ADD_TYPE_ID(troupe, (std::vector<troupe::child_status>))
CAF_ADD_TYPE_ID(troupe, (troupe::memory::record))
CAF_ADD_TYPE_ID(troupe, (troupe::member_info))
CAF_ADD_TYPE_ID(troupe, (std::vector<troupe::member_info>))
CAF_ADD_TYPE_ID(troupe, (std::map<std::string, caf::actor>))

CAF_END_TYPE_ID_BLOCK(troupe)

namespace troupe {

/// Wraps `code` and a message naming what went wrong into a `caf::error`.
caf::error make_error(errc code, std::string message);

/// The `errc` inside `err`, or `role_down`/`timeout` for the CAF system
/// errors that mean the same, or `unspecified`.
errc code_of(const caf::error& err);

/// A one-line, human-readable description of `err` (no category prefix).
std::string describe(const caf::error& err);

} // namespace troupe
