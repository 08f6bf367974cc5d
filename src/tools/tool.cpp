#include "tools/tool.hpp"

#include <algorithm>
#include <exception>

#include <sys/eventfd.h>
#include <unistd.h>

namespace troupe::tools {

cancellation::cancellation() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

cancellation::~cancellation() {
  if (fd_ >= 0)
    ::close(fd_);
}

void cancellation::cancel() noexcept {
  if (flag_.exchange(true, std::memory_order_acq_rel))
    return;
  if (fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
  }
}

result<bool> registry::add(entry x) {
  if (x.spec.name.empty())
    return failure{errc::invalid_config, "tool name must not be empty"};
  if (!x.fn)
    return failure{errc::invalid_config,
                   "tool '" + x.spec.name + "' has no function"};
  auto schema = parse_object(x.spec.parameters,
                             "parameters schema of tool '" + x.spec.name + "'");
  if (!schema)
    return schema.error();
  auto name = x.spec.name;
  if (!entries_.emplace(name, std::move(x)).second)
    return failure{errc::invalid_config,
                   "tool '" + name + "' is registered twice"};
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

tool_result registry::invoke(const tool_call& call, const context& ctx) const {
  tool_result out;
  out.call_id = call.id;
  out.name = call.name;
  auto fail = [&](failure f) {
    out.ok = false;
    out.output = error_json(f);
    return out;
  };
  auto e = find(call.name);
  if (e == nullptr)
    return fail({errc::unknown_tool, "unknown tool '" + call.name + "'"});
  auto args = parse_object(call.arguments.empty() ? "{}" : call.arguments,
                           "arguments of '" + call.name + "'");
  if (!args)
    return fail({errc::invalid_arguments, args.error().message});
  try {
    auto res = e->fn(*args, ctx);
    if (!res)
      return fail(res.error());
    out.ok = true;
    out.output = dump(*res);
  } catch (const std::exception& ex) {
    // A tool that throws is a bug in the tool, not in the task: report it as
    // the tool's failure so the exception never crosses the actor boundary.
    return fail(
      {errc::tool_failed, "tool '" + call.name + "' threw: " + ex.what()});
  }
  return out;
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
