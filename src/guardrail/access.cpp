#include "guardrail/access.hpp"

#include <openssl/evp.h>

#include "guardrail/approval.hpp"

namespace troupe::guardrail {

namespace {

constexpr permission all_permissions[] = {
  permission::read_memory, permission::write_memory, permission::execute_tools,
  permission::access_files, permission::network_access, permission::run_shell};

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
    case permission::run_shell:
      return "run_shell";
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
  for (auto& [digest, principal] : cfg.api_keys) {
    if (digest.size() != 64 ||
        digest.find_first_not_of("0123456789abcdef") != std::string::npos)
      return failure{errc::invalid_config,
                     "access.api_keys: '" + digest +
                       "' is not a SHA-256 digest (64 lowercase hex digits; "
                       "`troupe access hash-key` makes one)"};
    if (!cfg.principals.count(principal))
      return failure{errc::invalid_config,
                     "access.api_keys: an API key names principal '" +
                       principal + "', which access.principals does not have"};
  }
  return true;
}

std::string api_key_digest(std::string_view key) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr);
  return to_hex(md, len);
}

result<bool> add_api_keys(access_config& cfg, std::string_view spec) {
  size_t index = 0;
  while (!spec.empty()) {
    ++index;
    auto comma = spec.find(',');
    auto entry = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{}
                                           : spec.substr(comma + 1);
    auto where = "TROUPE_API_KEYS entry " + std::to_string(index);
    auto colon = entry.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return failure{errc::invalid_config,
                     where + " is not 'principal:key' (the key is not shown)"};
    auto principal = std::string{entry.substr(0, colon)};
    auto key = entry.substr(colon + 1);
    where += " (principal '" + principal + "')";
    if (key.size() < min_api_key_size)
      return failure{errc::invalid_config,
                     where + ": the key has " + std::to_string(key.size()) +
                       " characters, at least " +
                       std::to_string(min_api_key_size) + " are needed"};
    auto [it, fresh] = cfg.api_keys.emplace(api_key_digest(key), principal);
    if (!fresh && it->second != principal)
      return failure{errc::invalid_config,
                     where + ": the same key is already given to principal '" +
                       it->second + "'"};
  }
  return true;
}

std::optional<std::string>
access_policy::principal_for_key(std::string_view key) const {
  // Looked up by digest: what is compared is not the secret, so timing
  // tells an attacker nothing about it.
  auto i = cfg_.api_keys.find(api_key_digest(key));
  if (i == cfg_.api_keys.end())
    return std::nullopt;
  return i->second;
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
