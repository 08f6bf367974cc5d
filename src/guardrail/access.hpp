#pragma once

// Who may do what: principals have roles, roles carry permissions. CAF-free;
// the roles that act on a principal's behalf (memory, later the tool
// executor) ask it.

#include <cstdint>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace troupe::guardrail {

enum class permission : uint8_t {
  read_memory,
  write_memory,
  execute_tools,
  access_files,
  network_access,
  /// The `shell` tool: any command in the sandbox. Only admin by default.
  run_shell,
};

/// Returns the permission's name, e.g. "read_memory".
const char* to_string(permission x) noexcept;

/// Parses a name produced by `to_string`.
std::optional<permission> permission_from(std::string_view name);

/// Roles and principals, as configured (key `access`).
struct access_config {
  /// Role name -> its permissions. Defaults as in the source guide: admin
  /// has all; user: read_memory, execute_tools; guest: read_memory.
  std::map<std::string, std::set<permission>, std::less<>> roles;
  /// Principal -> role name. Default: the command line ("cli") is admin.
  std::map<std::string, std::string, std::less<>> principals;
  /// Per role: the tools it may call (empty: any its permissions allow)
  /// and the tools it may not (wins over allow).
  struct tool_lists {
    std::set<std::string, std::less<>> allow;
    std::set<std::string, std::less<>> deny;
  };
  std::map<std::string, tool_lists, std::less<>> tools;
  /// API keys, by the SHA-256 of the key (64 lowercase hex digits) ->
  /// principal. Only digests are kept: a config file with them holds no
  /// secret. Keys themselves come from the environment (TROUPE_API_KEYS).
  std::map<std::string, std::string, std::less<>> api_keys;

  access_config();
};

/// Checks that every principal names a configured role and every API key
/// digest is well formed and names a configured principal.
result<bool> validate(const access_config& cfg);

/// The SHA-256 of an API key, as 64 lowercase hex digits.
std::string api_key_digest(std::string_view key);

/// Fewest characters an API key may have.
inline constexpr size_t min_api_key_size = 16;

/// Adds the keys in `spec`, "principal:key[,principal:key…]" (the form of
/// TROUPE_API_KEYS), by digest. Errors name the entry's position and
/// principal, never the key.
result<bool> add_api_keys(access_config& cfg, std::string_view spec);

/// Answers "may this principal do that?". An unknown principal may do
/// nothing.
class access_policy {
public:
  explicit access_policy(access_config cfg) : cfg_(std::move(cfg)) {}

  bool allows(std::string_view principal, permission p) const;

  /// Nothing if allowed; otherwise the reason, naming the principal, its
  /// role and the missing permission.
  std::optional<std::string> deny_reason(std::string_view principal,
                                         permission p) const;

  /// Nothing if `principal` may call tool `name`, which needs
  /// `permissions`; otherwise why not (the missing permission, or the
  /// role's tool list).
  std::optional<std::string>
  tool_denial(std::string_view principal, std::string_view name,
              const std::vector<std::string>& permissions) const;

  /// The principal an API key belongs to, if any.
  std::optional<std::string> principal_for_key(std::string_view key) const;

private:
  access_config cfg_;
};

/// The access policy in force, swappable while roles read it (a reload
/// changes roles, principals, tool lists and keys without a restart).
class access_holder {
public:
  explicit access_holder(access_config cfg)
    : policy_(std::make_shared<const access_policy>(std::move(cfg))) {}

  std::shared_ptr<const access_policy> get() const {
    return policy_.load();
  }

  void set(access_config cfg) {
    policy_.store(std::make_shared<const access_policy>(std::move(cfg)));
  }

private:
  std::atomic<std::shared_ptr<const access_policy>> policy_;
};

} // namespace troupe::guardrail
