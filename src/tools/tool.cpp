#include "tools/tool.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <future>

#include "tools/schema.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

namespace troupe::tools {

cancellation::cancellation() = default;

cancellation::~cancellation() {
  if (auto fd = fd_.load(); fd >= 0)
    ::close(fd);
}

int cancellation::fd() const noexcept {
  auto fd = fd_.load(std::memory_order_acquire);
  if (fd != -2)
    return fd;
  auto made = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  auto expected = -2;
  // seq_cst here and in cancel(): of a racing cancel and first fd(), at
  // least one sees the other, so the fd is never left unsignalled.
  if (!fd_.compare_exchange_strong(expected, made < 0 ? -1 : made)) {
    if (made >= 0)
      ::close(made); // another thread was first
    return expected;
  }
  // Cancelled before anyone watched: the new fd must say so too.
  if (made >= 0 && flag_.load()) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(made, &one, sizeof one);
  }
  return made < 0 ? -1 : made;
}

void cancellation::cancel() noexcept {
  if (flag_.exchange(true))
    return;
  if (auto fd = fd_.load(); fd >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
  }
}

namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64)
    return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
      return false;
  return true;
}

} // namespace

result<bool> registry::add(entry x) {
  auto& name = x.spec.name;
  if (!valid_name(name))
    return failure{errc::invalid_config,
                   "tool name '" + name +
                     "' is invalid: use 1 to 64 of A-Z a-z 0-9 _ -"};
  bool async = x.mode == run_mode::async;
  if ((async && x.fn) || (!async && x.async_fn))
    return failure{errc::invalid_config,
                   "tool '" + name + "' has a body that does not fit its mode"};
  if (entries_.count(name) > 0)
    return failure{errc::invalid_config,
                   "tool '" + name + "' is registered twice"};
  if (!x.schema) {
    auto what = "the arguments of tool '" + name + "'";
    auto doc = parse_object(x.spec.parameters, what);
    if (!doc)
      return doc.error();
    auto compiled = schema_validator::compile(*doc, what);
    if (!compiled)
      return compiled.error();
    x.schema = std::move(*compiled);
  }
  entries_.emplace(name, std::move(x));
  list_ = {};
  return true;
}

const entry* registry::find(std::string_view name) const {
  auto i = entries_.find(name);
  return i == entries_.end() ? nullptr : &i->second;
}

std::vector<tool_spec> registry::specs() const {
  std::vector<tool_spec> out;
  out.reserve(entries_.size());
  for (auto& [name, e] : entries_)
    out.push_back(e.spec);
  return out;
}

tool_list registry::spec_list() const {
  return list_.get().size() == entries_.size() ? list_ : tool_list{specs()};
}

void registry::seal() {
  list_ = tool_list{specs()};
}

result<prepared_call> registry::prepare(const tool_call& call) const {
  auto e = find(call.name);
  if (e == nullptr)
    return failure{errc::unknown_tool, "unknown tool '" + call.name + "'"};
  // The common case builds no error context: the tool's name goes into
  // the message only when there is one.
  constexpr std::string_view what = "the arguments";
  auto parsed = call.arguments.empty() ? result<json>{json::object()}
                                       : parse_object(call.arguments, what);
  if (!parsed)
    return failure{errc::invalid_arguments,
                   "arguments of '" + call.name + "'" +
                     parsed.error().message.substr(what.size())};
  auto& args = *parsed;
  if (e->schema)
    if (auto ok = e->schema->check(args); !ok)
      return failure{errc::invalid_arguments,
                     "invalid arguments for '" + call.name +
                       "': " + ok.error().message};
  return prepared_call{e, std::move(args)};
}

result<json> registry::run(const prepared_call& call, const context& ctx) {
  auto& name = call.tool->spec.name;
  if (!call.tool->fn)
    return failure{errc::unknown_tool,
                   "tool '" + name + "' is not served here"};
  // Cancelled (or past its deadline) while it waited for a worker: its
  // caller was already answered, so it must not run at all.
  if (ctx.cancelled())
    return failure{errc::cancelled,
                   "tool '" + name + "' was cancelled before it ran"};
  try {
    return call.tool->fn(call.args, ctx);
  } catch (const std::exception& ex) {
    // A tool that throws is a bug in the tool, not in the task: report it as
    // the tool's failure so the exception never crosses the actor boundary.
    return failure{errc::tool_failed,
                   "tool '" + name + "' threw: " + ex.what()};
  }
}

tool_result to_tool_result(const tool_call& call, result<json> res) {
  tool_result out;
  out.call_id = call.id;
  out.name = call.name;
  out.ok = static_cast<bool>(res);
  out.output = res ? dump(*res) : error_json(res.error());
  return out;
}

tool_result registry::invoke(const tool_call& call, const context& ctx) const {
  auto prepared = prepare(call);
  if (!prepared)
    return to_tool_result(call, prepared.error());
  auto& tool = *prepared->tool;
  if (tool.mode != run_mode::async || !tool.async_fn)
    return to_tool_result(call, run(*prepared, ctx));
  std::promise<result<json>> done;
  auto fut = done.get_future();
  auto once = std::make_shared<std::once_flag>();
  try {
    tool.async_fn(prepared->args, ctx, [&done, once](result<json> r) {
      std::call_once(*once, [&] { done.set_value(std::move(r)); });
    });
  } catch (const std::exception& ex) {
    return to_tool_result(call, failure{errc::tool_failed,
                                        "tool '" + call.name +
                                          "' threw: " + ex.what()});
  }
  return to_tool_result(call, fut.get());
}

catalog::catalog(registry base) : base_(std::move(base)) {
  publish(rebuild(nullptr));
}

std::shared_ptr<registry> catalog::rebuild(const std::string* skip) const {
  // Every entry here was compiled when it first came in: adding it again
  // only copies it.
  auto next = std::make_shared<registry>();
  for (auto& [name, e] : base_.entries())
    next->add(e);
  for (auto& [g, es] : groups_)
    if (skip == nullptr || g != *skip)
      for (auto& e : es)
        next->add(e);
  return next;
}

std::vector<failure> catalog::set_group(const std::string& group,
                                        std::vector<entry> xs) {
  std::vector<failure> out;
  std::lock_guard<std::mutex> guard{mtx_};
  // The new entries go into the next registry directly: a tool that cannot
  // be added (bad schema, name taken) is left out with its reason.
  auto next = rebuild(&group);
  std::vector<entry> kept;
  for (auto& x : xs) {
    auto name = x.spec.name;
    if (auto ok = next->add(std::move(x)); !ok) {
      out.push_back(ok.error());
      continue;
    }
    kept.push_back(*next->find(name));
  }
  groups_[group] = std::move(kept);
  publish(std::move(next));
  return out;
}

void catalog::drop_group(const std::string& group) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (groups_.erase(group) > 0)
    publish(rebuild(nullptr));
}

void catalog::publish(std::shared_ptr<registry> next) {
  next->seal();
  current_.store(std::move(next), std::memory_order_release);
  version_.fetch_add(1, std::memory_order_acq_rel);
}

result<std::string> string_arg(const json& args, std::string_view key) {
  auto i = args.find(key);
  if (i == args.end())
    return failure{errc::invalid_arguments,
                   "missing required argument '" + std::string{key} + "'"};
  if (!i->is_string())
    return failure{errc::invalid_arguments, "argument '" + std::string{key} +
                                              "' must be a string, got " +
                                              i->type_name()};
  return i->get<std::string>();
}

result<std::string> string_arg(const json& args, std::string_view key,
                               std::string_view fallback) {
  if (args.find(key) == args.end())
    return std::string{fallback};
  return string_arg(args, key);
}

result<bool> bool_arg(const json& args, std::string_view key, bool fallback) {
  auto i = args.find(key);
  if (i == args.end())
    return fallback;
  if (!i->is_boolean())
    return failure{errc::invalid_arguments, "argument '" + std::string{key} +
                                              "' must be a boolean, got " +
                                              i->type_name()};
  return i->get<bool>();
}

result<bool> only_args(const json& args,
                       std::initializer_list<std::string_view> known) {
  for (auto& [key, value] : args.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      return failure{errc::invalid_arguments,
                     "unexpected argument '" + key + "'"};
  return true;
}

} // namespace troupe::tools
