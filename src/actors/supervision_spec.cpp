#include "actors/supervision_spec.hpp"

#include "actors/directory.hpp"
#include "actors/engine.hpp"

namespace troupe {

const char* to_string(role_kind x) noexcept {
  switch (x) {
    case role_kind::supervisor:
      return "supervisor";
    case role_kind::monitor:
      return "monitor";
    case role_kind::memory:
      return "memory";
    case role_kind::guardrail:
      return "guardrail";
    case role_kind::offline_provider:
      return "offline_provider";
    case role_kind::http_provider:
      return "http_provider";
    case role_kind::tool_executor:
      return "tool_executor";
    case role_kind::planner:
      return "planner";
    case role_kind::task_manager:
      return "task_manager";
  }
  return "unknown";
}

namespace {

/// A role under a supervisor with policy `parent`.
role_spec role(std::string name, role_kind kind,
               const supervisor_policy& parent, size_t index = 0) {
  role_spec x;
  x.name = std::move(name);
  x.kind = kind;
  x.shutdown = parent.shutdown;
  x.index = index;
  return x;
}

/// A supervisor with policy `pol` under one with policy `parent`.
role_spec supervisor_node(std::string name, const supervisor_policy& pol,
                          const supervisor_policy& parent) {
  auto x = role(std::move(name), role_kind::supervisor, parent);
  x.policy = pol;
  return x;
}

void print(std::string& out, const role_spec& x, size_t depth) {
  out.append(2 * depth, ' ');
  out += x.name;
  out += ": ";
  // The root has no parent: no restart type, no shutdown time.
  if (depth > 0) {
    out += to_string(x.kind);
    out += ", ";
    out += to_string(x.restart);
    out += ", shutdown " + std::to_string(x.shutdown.count()) + " ms";
  }
  if (x.kind == role_kind::supervisor) {
    if (depth > 0)
      out += "; ";
    out += to_string(x.policy.strategy);
    out += ", intensity " + std::to_string(x.policy.intensity) + " per " +
           std::to_string(x.policy.period.count()) + " ms, backoff " +
           std::to_string(x.policy.backoff.count()) + " ms";
  }
  out += '\n';
  for (auto& c : x.children)
    print(out, c, depth + 1);
}

} // namespace

supplied_roles supplied_in(const engine_options& opts) {
  supplied_roles out;
  out.provider = static_cast<bool>(opts.provider);
  out.tools = static_cast<bool>(opts.tools);
  out.planner = static_cast<bool>(opts.planner);
  out.memory = static_cast<bool>(opts.memory);
  return out;
}

supervision_spec plan_supervision(const engine_settings& cfg,
                                  const engine_options& opts) {
  return plan_supervision(cfg, supplied_in(opts));
}

supervision_spec plan_supervision(const engine_settings& cfg,
                                  supplied_roles supplied) {
  auto& pol = cfg.supervision;
  supervision_spec out;
  auto& root = out.root;
  root.name = "root";
  root.policy = pol.root;
  root.children.push_back(role("monitor", role_kind::monitor, pol.root));
  if (!supplied.memory)
    root.children.push_back(role("memory", role_kind::memory, pol.root));
  root.children.push_back(role("guardrail", role_kind::guardrail, pol.root));
  // The providers: the primary (unless the embedder supplied one), the
  // fallbacks in chain order, then those only agents name. A planner on
  // other nodes uses their providers.
  auto providers = supervisor_node("providers", pol.providers, pol.root);
  auto roster = provider_roster(cfg).size();
  for (size_t i = 0; !supplied.planner && i < roster; ++i) {
    if (i == 0 && supplied.provider)
      continue;
    auto kind = provider_settings(cfg, i).kind == "offline"
                  ? role_kind::offline_provider
                  : role_kind::http_provider;
    providers.children.push_back(
      role(provider_name(i), kind, pol.providers, i));
  }
  if (!providers.children.empty())
    root.children.push_back(std::move(providers));
  if (!supplied.tools) {
    auto executors =
      supervisor_node("tool_executors", pol.tool_executors, pol.root);
    executors.children.push_back(
      role("tools", role_kind::tool_executor, pol.tool_executors));
    root.children.push_back(std::move(executors));
  }
  auto planners = supervisor_node("planners", pol.planners, pol.root);
  for (size_t i = 0; !supplied.planner && i < cfg.planner_workers; ++i)
    planners.children.push_back(
      role(role_name("planner", i), role_kind::planner, pol.planners, i));
  if (!planners.children.empty())
    root.children.push_back(std::move(planners));
  root.children.push_back(role("tasks", role_kind::task_manager, pol.root));
  out.supplied = supplied;
  return out;
}

size_t descendants(const role_spec& x) {
  auto n = x.children.size();
  for (auto& c : x.children)
    n += descendants(c);
  return n;
}

std::string to_string(const supervision_spec& x) {
  std::string out;
  print(out, x.root, 0);
  std::string names;
  auto add = [&](bool on, const char* name) {
    if (on)
      names += (names.empty() ? "" : ", ") + std::string{name};
  };
  add(x.supplied.provider, "provider");
  add(x.supplied.tools, "tools");
  add(x.supplied.planner, "planner");
  add(x.supplied.memory, "memory");
  out += "supplied: " + (names.empty() ? std::string{"none"} : names) + "\n";
  return out;
}

} // namespace troupe
