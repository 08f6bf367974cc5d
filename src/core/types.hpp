#pragma once

// The engine's data: plain structs that travel between actors. This header
// is CAF-free so that tools, memory and providers compile fast; the `inspect`
// overloads and type IDs that let each struct cross a node live in
// `actors/protocol.hpp`.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace troupe {

/// Who wrote a chat message (the OpenAI/Anthropic message roles).
enum class chat_role : uint8_t { system, user, assistant, tool };

/// A tool call requested by a model: name, JSON arguments, and the id that
/// pairs it with its result (OpenAI `tool_calls[i]`, Anthropic `tool_use`).
struct tool_call {
  /// Unique within one task, e.g. `"call_1"`.
  std::string id;
  /// Registered tool name, e.g. `"calculator"`.
  std::string name;
  /// The arguments as a JSON object in text form.
  std::string arguments;
};

/// One message of a task's conversation.
struct chat_message {
  chat_role role = chat_role::user;
  /// Text content (for `tool`: the tool's output or error as JSON text).
  std::string content;
  /// Tool calls (only on `assistant` messages).
  std::vector<tool_call> tool_calls;
  /// The call this message answers (only on `tool` messages).
  std::string tool_call_id;
};

/// What a model may call: name, description, and JSON Schema of arguments.
struct tool_spec {
  std::string name;
  std::string description;
  /// JSON Schema (text) of the arguments object.
  std::string parameters;
  /// Running it twice with the same arguments does no harm (it may be
  /// retried after a crash).
  bool idempotent = false;
  /// Permissions the principal needs to call it (e.g. "execute_tools",
  /// "access_files").
  std::vector<std::string> permissions{"execute_tools"};
  /// Longest a call may take, in milliseconds; past it the call fails with
  /// `timeout` and is cancelled (a subprocess is killed).
  uint32_t timeout_ms = 30000;
  /// How long a result may be served from the cache, in milliseconds (0:
  /// never cached). Only for tools whose result depends on the arguments
  /// alone.
  uint32_t cache_ttl_ms = 0;
};

/// An immutable list of tool specs, shared rather than copied: the same
/// list goes with every model request of every task.
class tool_list {
public:
  tool_list() = default;

  tool_list(std::vector<tool_spec> xs)
    : ptr_(std::make_shared<const std::vector<tool_spec>>(std::move(xs))) {}

  tool_list(std::initializer_list<tool_spec> xs)
    : tool_list(std::vector<tool_spec>(xs)) {}

  /// The specs (an empty list if none were set).
  const std::vector<tool_spec>& get() const noexcept {
    static const std::vector<tool_spec> none;
    return ptr_ ? *ptr_ : none;
  }

  operator const std::vector<tool_spec>&() const noexcept {
    return get();
  }

  auto begin() const noexcept {
    return get().begin();
  }

  auto end() const noexcept {
    return get().end();
  }

  size_t size() const noexcept {
    return get().size();
  }

  bool empty() const noexcept {
    return get().empty();
  }

private:
  std::shared_ptr<const std::vector<tool_spec>> ptr_;
};

/// A completion request to a provider (the model's whole input).
struct chat_request {
  std::vector<chat_message> messages;
  tool_list tools;
  /// The model over the provider's configured one ("" keeps it).
  std::string model = {};
  /// A JSON Schema (as text) the final answer must match ("" for free
  /// text): OpenAI's `response_format: json_schema`, Anthropic's forced
  /// `final_answer` tool.
  std::string response_schema = {};
};

/// A provider's answer: either tool calls (run them, then ask again) or final
/// text. A planner's step has the same shape.
/// Tokens a model call spent (as the provider reports them; the offline
/// planner spends none).
struct token_usage {
  uint64_t prompt = 0;
  uint64_t completion = 0;
};

struct chat_response {
  /// Final answer text; meaningful when `tool_calls` is empty.
  std::string content;
  std::vector<tool_call> tool_calls;
  token_usage usage = {};
};

/// A ranked hit from memory recall.
struct memory_hit {
  uint64_t id = 0;
  std::string text;
  double score = 0;
  /// "session" (short-term) or "long_term".
  std::string origin = "session";
};

/// The guardrail's approval of one tool call: the executor runs a call only
/// with a valid one (signed, unexpired, not used before).
struct approval {
  int64_t expires_ms = 0;
  /// Unique per approval: a replayed approval is refused.
  uint64_t nonce = 0;
  /// HMAC-SHA256 (hex) over the call, the task, the principal, the expiry
  /// and the nonce.
  std::string mac;
};

/// A tool call with the context the executor needs to run it.
struct tool_invocation {
  tool_call call;
  uint64_t task_id = 0;
  std::string session;
  std::string principal;
  std::string agent = "default";
  approval grant = {};
  /// Names this call across retries, engines and nodes
  /// ("<engine id>/<task id>/<call id>"); empty: none. An executor that
  /// already ran (or is running) a call with this key answers with that
  /// call's result instead of running it again. Covered by the approval's
  /// MAC, so it cannot be changed to fetch another call's result.
  std::string idempotency_key = {};
};

/// The outcome of one tool call. Tool failures are data, not crashes: the
/// model sees them and can react (OpenAI `is_error`-style results).
struct tool_result {
  std::string call_id;
  std::string name;
  bool ok = false;
  /// JSON text: the tool's output if `ok`, else `{"error": ..., "code": ...}`.
  std::string output;
};

/// One step of the agent loop: the calls the planner chose and their results.
struct step_record {
  std::vector<tool_call> calls;
  std::vector<tool_result> results;
};

/// A task as submitted by a principal.
struct task_request {
  /// Engine-assigned id, unique per process (0: let the engine assign one).
  uint64_t id = 0;
  /// Conversation/session the task belongs to (short-term memory scope).
  std::string session;
  /// Who asked; the guardrail authorises tool calls by the principal's role.
  std::string principal;
  /// The request in natural language.
  std::string text;
  /// The agent that runs it (`agents.<name>`, or "default").
  std::string agent = "default";
  /// The conversation before this turn (a thread's earlier turns): the
  /// model sees it after the agent's instructions, before `text`.
  std::vector<chat_message> history = {};
  /// Steps it already finished before an interruption (a restarted daemon
  /// resumes it from there: their tool calls do not run again).
  std::vector<step_record> resume = {};
  /// Taken up again after an interruption (with `resume` steps, or none).
  bool resumed = false;
};

/// How a task ended.
enum class task_status : uint8_t { completed, failed, rejected, cancelled };

/// A finished task: the answer (or reason), and every step taken.
struct task_result {
  uint64_t id = 0;
  task_status status = task_status::failed;
  /// Final answer if completed; the reason otherwise.
  std::string answer;
  /// Error code name (see `errc`) if not completed.
  std::string error_code;
  std::vector<step_record> steps;
  /// How the task degraded on its way, e.g. "memory recall skipped: ...".
  std::vector<std::string> notes;
  /// The memories recalled before planning and given to the model.
  std::vector<memory_hit> memories;
  /// Tokens the task's model calls spent, and the provider that made the
  /// last one ("" if none did).
  token_usage usage = {};
  std::string provider;
};


/// A recall query against one session's memory.
struct recall_query {
  std::string session;
  std::string query;
  uint32_t limit = 5;
  /// Whose long-term memory to search ("<principal>/<agent>").
  std::string principal;
  std::string agent = "default";
};

/// A guardrail decision.
enum class verdict_action : uint8_t { allow, deny, redact };

/// A guardrail's answer: what to do, why, and (for redact) the new text.
struct verdict {
  verdict_action action = verdict_action::allow;
  std::string reason;
  std::string text;
};

/// What happened, for the monitor.
enum class event_kind : uint8_t {
  task_accepted,
  task_finished,
  task_failed,
  step,
  tool_call,
  tool_error,
  rejected,
  error,
  /// A supervised role started again after it ended (detail: its name).
  role_restarted,
  /// A supervisor gave up past its restart intensity (detail: its name).
  escalated,
  /// A task switched to the next provider of its fallback chain.
  provider_fallback,
  /// A request lost in a crash was sent again to the restarted role.
  retried,
};

/// Number of `event_kind` values.
constexpr size_t event_kind_count = 12;

/// An event emitted by any role, counted and logged by the monitor.
struct event {
  event_kind kind = event_kind::error;
  uint64_t task_id = 0;
  /// CAF actor id of the emitter (0 if not an actor).
  uint64_t actor_id = 0;
  /// Short free text: tool name, reason, ...
  std::string detail;
};

/// Counters kept by the monitor, indexed by `event_kind`.
struct monitor_stats {
  std::vector<uint64_t> counts;
  /// Restarts by role name (from `role_restarted` events).
  std::map<std::string, uint64_t> restarts;
  /// Escalations by supervisor name (from `escalated` events).
  std::map<std::string, uint64_t> escalations;
};

/// Returns the name of `x`, e.g. `"tool_call"`.
const char* to_string(event_kind x) noexcept;
const char* to_string(task_status x) noexcept;
const char* to_string(chat_role x) noexcept;
const char* to_string(verdict_action x) noexcept;

} // namespace troupe

namespace troupe {

/// One child of a supervisor, for status output.
struct child_status {
  std::string name;
  bool running = false;
  /// Restarts so far (not counting the first start).
  uint32_t restarts = 0;
  /// The supervisor it belongs to.
  std::string parent;
  /// "running", "restarting" (down, a restart is due), "stopped" (down for
  /// good) or "gave up" (a supervisor past its restart intensity).
  std::string state;
  /// Why its last instance ended; empty if none has.
  std::string last_exit;
};

/// What the task runner asks the planner: the task's conversation so far.
struct plan_request {
  uint64_t task_id = 0;
  std::string session;
  std::vector<chat_message> history;
  /// Which of the engine's providers to ask (0: the primary; see
  /// `provider_roster`).
  uint32_t provider = 0;
  /// The agent's model for this provider ("" keeps the provider's).
  std::string model = {};
  /// The agent's tool patterns (agents::tool_allowed); empty: every tool.
  std::vector<std::string> tools = {};
  /// The agent's output schema ("" for free text).
  std::string response_schema = {};
};

} // namespace troupe
