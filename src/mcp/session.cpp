#include "mcp/session.hpp"

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

#include "mcp/server.hpp"
#include "mcp/wire.hpp"

namespace troupe::mcp {

namespace {

using std::chrono::milliseconds;

/// Responses to calls given up on (deadline, cancel) that may still
/// arrive: remembered so they are not counted as garbage.
constexpr size_t max_abandoned = 1024;

/// Most tools/list pages followed (a server whose cursors never end).
constexpr size_t max_list_pages = 100;

std::string rpc_error(const json& msg) {
  auto& e = msg["error"];
  if (!e.is_object())
    return "MCP error: " + dump(e);
  auto code = e.find("code");
  auto message = string_at(e, "message");
  return "MCP error " +
         (code != e.end() && code->is_number() ? dump(*code) : "(no code)") +
         ": " + (message.empty() ? "(no message)" : message);
}

} // namespace

session::session(server_config cfg, session_hooks hooks)
  : cfg_(std::move(cfg)), hooks_(std::move(hooks)), logger_(log::get()) {}

std::string session::who() const {
  return "MCP server '" + cfg_.name + "'";
}

void session::emit(session_event x) {
  out_.events.push_back(std::move(x));
}

void session::fail(call_request c, errc code, const std::string& why) {
  out_.done.emplace_back(std::move(c.done),
                         failure{code, c.engine_name + ": " + why});
}

session_output session::take() {
  session_output x;
  std::swap(x, out_);
  return x;
}

session::time_point session::next_deadline() const {
  auto until = phase_ == phase::starting ? start_deadline_ : time_point::max();
  for (auto& [id, p] : pendings_)
    until = std::min(until, p.deadline);
  return until;
}

std::vector<const tools::cancellation*> session::cancels() const {
  std::vector<const tools::cancellation*> out;
  for (auto& [id, p] : pendings_)
    if (p.kind == request_kind::call && p.call.cancel)
      out.push_back(p.call.cancel.get());
  return out;
}

size_t session::in_flight() const {
  size_t calls = 0;
  for (auto& [id, p] : pendings_)
    calls += p.kind == request_kind::call ? 1 : 0;
  return calls;
}

// -- requests out -------------------------------------------------------------

void session::start(time_point now) {
  phase_ = phase::starting;
  listing_ = false;
  list_again_ = false;
  start_deadline_ = now + milliseconds{cfg_.start_timeout_ms};
  // Unsent (stdin already gone), it waits for the process to go down.
  send_request(
    request_kind::initialize, "initialize",
    {{"protocolVersion", protocol_version},
     {"capabilities", json::object()},
     {"clientInfo", {{"name", "troupe"}, {"version", TROUPE_VERSION}}}},
    now, start_deadline_);
}

void session::send(const json& msg) {
  // A notification or an answer the server cannot take is lost, as it
  // would be on a dead pipe: its requests time out on its side.
  hooks_.write(dump(msg));
}

result<uint64_t> session::send_request(request_kind kind,
                                       std::string_view method, json params,
                                       time_point now, time_point deadline,
                                       call_request* call) {
  auto id = next_id_++;
  json msg{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}};
  if (!params.is_null())
    msg["params"] = std::move(params);
  if (auto ok = hooks_.write(dump(msg)); !ok)
    return ok.error();
  pending p{kind, now, deadline, {}};
  if (call != nullptr)
    p.call = std::move(*call);
  pendings_.emplace(id, std::move(p));
  return id;
}

void session::call(call_request c, time_point now) {
  if (phase_ != phase::ready)
    return fail(std::move(c), errc::tool_failed,
                who() + " is not ready for calls");
  if (c.cancel && c.cancel->cancelled())
    return fail(std::move(c), errc::cancelled, "the call was cancelled");
  auto deadline =
    std::min(c.deadline, now + milliseconds{cfg_.call_timeout_ms});
  if (now >= deadline)
    return fail(std::move(c), errc::timeout,
                "the call's deadline passed before it was sent");
  json params{{"name", c.tool},
              {"arguments", c.args.is_null() ? json::object() : c.args}};
  auto sent = send_request(request_kind::call, "tools/call", std::move(params),
                           now, deadline, &c);
  if (!sent)
    return fail(std::move(c), errc::tool_failed, sent.error().message);
  emit(event::in_flight{in_flight()});
}

void session::abandon(uint64_t id, std::string_view reason) {
  send({{"jsonrpc", "2.0"},
        {"method", "notifications/cancelled"},
        {"params", {{"requestId", id}, {"reason", reason}}}});
  abandoned_.insert(id);
  abandoned_order_.push_back(id);
  if (abandoned_order_.size() > max_abandoned) {
    abandoned_.erase(abandoned_order_.front());
    abandoned_order_.pop_front();
  }
}

void session::expire(time_point now) {
  bool changed_calls = false;
  for (auto it = pendings_.begin(); it != pendings_.end();) {
    auto& p = it->second;
    bool cancelled = p.kind == request_kind::call && p.call.cancel &&
                     p.call.cancel->cancelled();
    if (!cancelled && now < p.deadline) {
      ++it;
      continue;
    }
    auto id = it->first;
    auto kind = p.kind;
    auto waited =
      std::chrono::duration_cast<milliseconds>(now - p.sent).count();
    auto call = std::move(p.call);
    it = pendings_.erase(it);
    // initialize must not be cancelled (MCP lifecycle): the process is
    // ended instead.
    if (kind != request_kind::initialize)
      abandon(id, cancelled ? "cancelled" : "timeout");
    if (kind == request_kind::call) {
      changed_calls = true;
      if (cancelled)
        fail(std::move(call), errc::cancelled, "the call was cancelled");
      else
        fail(std::move(call), errc::timeout,
             who() + " did not answer within " + std::to_string(waited) +
               " ms");
    } else if (phase_ == phase::starting) {
      emit(event::start_fault{
        "did not answer " +
          std::string{kind == request_kind::initialize ? "initialize"
                                                       : "tools/list"} +
          " within " + std::to_string(cfg_.start_timeout_ms) + " ms",
        false});
    } else {
      listing_ = false;
      logger_->warn(R"("event":"mcp_list_timeout","server":{})",
                    log::quote(cfg_.name));
    }
  }
  if (changed_calls)
    emit(event::in_flight{in_flight()});
}

void session::close(errc code, const std::string& why) {
  for (auto& [id, p] : pendings_)
    if (p.kind == request_kind::call)
      fail(std::move(p.call), code, why);
  pendings_.clear();
  listing_ = false;
  list_again_ = false;
  phase_ = phase::closed;
}

// -- lines in -----------------------------------------------------------------

void session::feed(const std::string& line, time_point now) {
  // Belt and braces: no message may end the owner's thread, whatever its
  // shape (the handlers check types, so this should never fire).
  try {
    handle_line(line, now);
  } catch (const std::exception& e) {
    emit(event::garbage{
      std::string{"a message that could not be handled: "} + e.what(), line});
  }
}

void session::handle_line(const std::string& line, time_point now) {
  if (line.find_first_not_of(" \t") == std::string::npos)
    return;
  // Bounded: nlohmann's dump and compare recurse, and a hostile server
  // must not overflow the stack. Lines are already cut at max_line_bytes.
  auto parsed = parse_json(line, "the line", {.unique_keys = false});
  if (!parsed)
    return emit(event::garbage{parsed.error().message, line});
  auto& msg = *parsed;
  if (!msg.is_object() || msg.value("jsonrpc", json{}) != "2.0")
    return emit(event::garbage{"not a JSON-RPC 2.0 message", line});
  auto method = msg.find("method");
  auto id = msg.find("id");
  if (method != msg.end() && method->is_string()) {
    if (id != msg.end() && !id->is_null())
      return on_request(*id, method->get<std::string>());
    return on_notification(method->get<std::string>(), now);
  }
  if (id != msg.end() && (msg.contains("result") || msg.contains("error")))
    return on_response(*id, msg, line, now);
  emit(event::garbage{"neither request, notification nor response", line});
}

void session::on_request(const json& id, const std::string& method) {
  // Only ping is supported.
  logger_->debug(R"("event":"mcp_server_request","server":{},"method":{})",
                 log::quote(cfg_.name), log::quote(method));
  if (method == "ping") {
    send({{"jsonrpc", "2.0"}, {"id", id}, {"result", json::object()}});
    return;
  }
  send({{"jsonrpc", "2.0"},
        {"id", id},
        {"error", {{"code", -32601}, {"message", "Method not found"}}}});
}

void session::on_notification(const std::string& method, time_point now) {
  if (method == "notifications/tools/list_changed") {
    if (listing_)
      list_again_ = true;
    else if (phase_ == phase::ready)
      begin_list(now);
    return;
  }
  logger_->debug(R"("event":"mcp_notification","server":{},"method":{})",
                 log::quote(cfg_.name), log::quote(method));
}

void session::on_response(const json& id_value, const json& msg,
                          const std::string& line, time_point now) {
  uint64_t id = 0;
  if (id_value.is_number_unsigned())
    id = id_value.get<uint64_t>();
  else if (id_value.is_number_integer() && id_value.get<int64_t>() > 0)
    id = static_cast<uint64_t>(id_value.get<int64_t>());
  auto it = pendings_.find(id);
  if (it == pendings_.end()) {
    if (abandoned_.count(id) == 0)
      emit(event::garbage{"a response to an unknown id", line});
    return;
  }
  auto p = std::move(it->second);
  pendings_.erase(it);
  switch (p.kind) {
    case request_kind::initialize:
      return on_initialize(msg, now);
    case request_kind::list:
      return on_list(msg, now);
    case request_kind::call:
      emit(event::in_flight{in_flight()});
      return finish_call(std::move(p.call), msg);
  }
}

void session::on_initialize(const json& msg, time_point now) {
  if (msg.contains("error"))
    return emit(
      event::start_fault{"refused initialize: " + rpc_error(msg), false});
  auto& res = msg["result"];
  auto version =
    res.is_object() ? res.value("protocolVersion", json{}) : json{};
  if (!version.is_string() || !supported_version(version.get<std::string>()))
    return emit(event::start_fault{
      "answered initialize with protocolVersion " +
        (version.is_string() ? log::quote(version.get<std::string>())
                             : std::string{version.type_name()}) +
        ", which troupe does not support (it speaks 2025-11-25, "
        "2025-06-18, 2025-03-26 and 2024-11-05)",
      true});
  auto info = res.value("serverInfo", json{});
  emit(event::initialized{version.get<std::string>(), string_at(info, "name"),
                          string_at(info, "version")});
  send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  begin_list(now);
}

void session::begin_list(time_point now, std::string cursor) {
  if (cursor.empty()) {
    listed_.clear();
    list_pages_ = 0;
  }
  json params = nullptr;
  if (!cursor.empty())
    params = {{"cursor", cursor}};
  auto deadline = phase_ == phase::starting
                    ? start_deadline_
                    : now + milliseconds{cfg_.call_timeout_ms};
  listing_ = static_cast<bool>(send_request(request_kind::list, "tools/list",
                                            std::move(params), now, deadline));
}

void session::on_list(const json& msg, time_point now) {
  auto& res = msg.contains("result") ? msg["result"] : msg["error"];
  if (!msg.contains("result") || !res.is_object() ||
      !res.value("tools", json{}).is_array()) {
    auto why = msg.contains("error") ? rpc_error(msg)
                                     : "a tools/list result without tools";
    listing_ = false;
    if (phase_ == phase::starting)
      return emit(event::start_fault{"answered tools/list with " + why, false});
    logger_->warn(R"("event":"mcp_list_failed","server":{},"error":{})",
                  log::quote(cfg_.name), log::quote(why));
    return;
  }
  for (auto& t : res["tools"])
    listed_.push_back(t);
  auto cursor = res.value("nextCursor", json{});
  if (cursor.is_string() && !cursor.get<std::string>().empty() &&
      ++list_pages_ < max_list_pages) {
    begin_list(now, cursor.get<std::string>());
    return;
  }
  listing_ = false;
  auto first = phase_ == phase::starting;
  if (first)
    phase_ = phase::ready;
  emit(event::listed{make_entries(), first});
  if (list_again_) {
    list_again_ = false;
    begin_list(now);
  }
}

std::vector<tools::entry> session::make_entries() const {
  std::vector<tools::entry> out;
  std::set<std::string> seen;
  for (auto& t : listed_) {
    auto name = t.is_object() ? t.value("name", json{}) : json{};
    if (!name.is_string() || name.get<std::string>().empty()) {
      logger_->warn(
        R"("event":"mcp_tool_skipped","server":{},"reason":"no name")",
        log::quote(cfg_.name));
      continue;
    }
    auto mcp_name = name.get<std::string>();
    tools::entry e;
    e.spec.name = tool_name(cfg_.name, mcp_name);
    if (!seen.insert(e.spec.name).second) {
      logger_->warn(
        R"("event":"mcp_tool_skipped","server":{},"tool":{},"reason":"its name clashes with another tool's once sanitised")",
        log::quote(cfg_.name), log::quote(mcp_name));
      continue;
    }
    e.spec.description = string_at(t, "description");
    if (e.spec.description.empty())
      e.spec.description = string_at(t, "title");
    auto schema = t.value("inputSchema", json{});
    e.spec.parameters =
      schema.is_object() ? dump(schema) : std::string{R"({"type":"object"})"};
    auto hints = t.value("annotations", json::object());
    auto hint = [&](const char* key) {
      return hints.is_object() && hints.value(key, json{}) == true;
    };
    e.spec.idempotent = hint("readOnlyHint") || hint("idempotentHint");
    e.spec.permissions = cfg_.permissions;
    e.spec.timeout_ms = cfg_.call_timeout_ms;
    e.mode = tools::run_mode::async;
    if (hooks_.tool_body)
      e.async_fn = hooks_.tool_body(mcp_name);
    out.push_back(std::move(e));
  }
  return out;
}

void session::finish_call(call_request c, const json& msg) {
  if (msg.contains("error"))
    return fail(std::move(c), errc::tool_failed, rpc_error(msg));
  auto& res = msg["result"];
  if (!res.is_object())
    return fail(std::move(c), errc::tool_failed,
                who() + " sent a tools/call result that is not an object");
  auto content = res.value("content", json::array());
  if (res.value("isError", json{}) == true)
    return fail(std::move(c), errc::tool_failed, text_of(content));
  json out{{"content", content.is_array() ? content : json::array()}};
  if (res.contains("structuredContent"))
    out["structuredContent"] = res["structuredContent"];
  out_.done.emplace_back(std::move(c.done), std::move(out));
}

} // namespace troupe::mcp
