#include "guardrail/access.hpp"

namespace troupe::guardrail {

namespace {

constexpr permission all_permissions[] = {
  permission::read_memory, permission::write_memory, permission::execute_tools,
  permission::access_files, permission::network_access};

} // namespace

const char* to_string(permission x) noexcept {
  switch (x) {
    case permission::read_memory:
      return "read_memory";
    case permission::write_memory:
      return "write_memory";
    case permission::execute_tools:
      return "execute_tools";
    case permission::access_files:
      return "access_files";
    case permission::network_access:
      return "network_access";
  }
  return "unknown";
}

std::optional<permission> permission_from(std::string_view name) {
  for (auto p : all_permissions)
    if (name == to_string(p))
      return p;
  return std::nullopt;
}

access_config::access_config() {
  roles["admin"] = {std::begin(all_permissions), std::end(all_permissions)};
  roles["user"] = {permission::read_memory, permission::execute_tools};
  roles["guest"] = {permission::read_memory};
  principals["cli"] = "admin";
}

std::optional<std::string>
access_policy::tool_denial(std::string_view principal, std::string_view name,
                           const std::vector<std::string>& permissions) const {
  for (auto& p : permissions) {
    auto perm = permission_from(p);
    if (!perm)
      return "tool '" + std::string{name} + "' needs an unknown permission '" +
             p + "'";
    if (auto why = deny_reason(principal, *perm))
      return why;
  }
  auto i = cfg_.principals.find(principal);
  if (i == cfg_.principals.end())
    return "principal '" + std::string{principal} + "' is unknown";
  if (auto t = cfg_.tools.find(i->second); t != cfg_.tools.end()) {
    auto& lists = t->second;
    if (lists.deny.count(name) ||
        (!lists.allow.empty() && !lists.allow.count(name)))
      return "role '" + i->second + "' may not use the tool '" +
             std::string{name} + "'";
  }
  return std::nullopt;
}

result<bool> validate(const access_config& cfg) {
  for (auto& [role, lists] : cfg.tools)
    if (!cfg.roles.count(role))
      return failure{errc::invalid_config,
                     "access.tools." + role + ": unknown role '" + role + "'"};
  for (auto& [principal, role] : cfg.principals)
    if (!cfg.roles.count(role))
      return failure{errc::invalid_config,
                     "access.principals." + principal + ": unknown role '" +
                       role + "'"};
  return true;
}

bool access_policy::allows(std::string_view principal, permission p) const {
  auto i = cfg_.principals.find(principal);
  if (i == cfg_.principals.end())
    return false;
  auto r = cfg_.roles.find(i->second);
  return r != cfg_.roles.end() && r->second.count(p) > 0;
}

std::optional<std::string>
access_policy::deny_reason(std::string_view principal, permission p) const {
  if (allows(principal, p))
    return std::nullopt;
  auto i = cfg_.principals.find(principal);
  if (i == cfg_.principals.end())
    return "principal '" + std::string{principal} +
           "' is unknown and has no permissions (needs " + to_string(p) + ")";
  return "principal '" + std::string{principal} + "' (role '" + i->second +
         "') lacks the permission " + to_string(p);
}

} // namespace troupe::guardrail
