#include "guardrail/settings.hpp"

namespace troupe::guardrail {

namespace {

using reader = std::optional<failure>;

reader read_deny_patterns(const json& v, settings& out, const std::string&) {
  if (!v.is_array())
    return config_error("guardrail.deny_patterns must be an array");
  out.deny_patterns.clear();
  for (auto& p : v) {
    if (!p.is_object() || !p.contains("name") || !p.contains("regex") ||
        !p["name"].is_string() || !p["regex"].is_string())
      return config_error("each guardrail.deny_patterns entry needs string "
                          "'name' and 'regex', got " +
                          dump(p));
    out.deny_patterns.push_back(
      {p["name"].get<std::string>(), p["regex"].get<std::string>()});
  }
  return std::nullopt;
}

reader read_roles(const json& v, access_config& out, const std::string&) {
  if (!v.is_object())
    return config_error("access.roles must be an object of role -> "
                        "[permissions], got " +
                        dump(v));
  // Named roles replace the default of the same name; others stay.
  for (auto& [role, perms] : v.items()) {
    if (!perms.is_array())
      return config_error("access.roles." + role +
                          " must be an array of permission names");
    auto& set = out.roles[role];
    set.clear();
    for (auto& p : perms) {
      auto parsed =
        p.is_string() ? permission_from(p.get<std::string>()) : std::nullopt;
      if (!parsed)
        return config_error("access.roles." + role + ": unknown permission " +
                            dump(p) +
                            " (read_memory, write_memory, execute_tools, "
                            "access_files, network_access, run_shell)");
      set.insert(*parsed);
    }
  }
  return std::nullopt;
}

reader read_principals(const json& v, access_config& out, const std::string&) {
  if (!v.is_object())
    return config_error("access.principals must be an object of principal -> "
                        "role, got " +
                        dump(v));
  for (auto& [principal, role] : v.items()) {
    if (!role.is_string())
      return config_error("access.principals." + principal +
                          " must be a role name, got " + dump(role));
    out.principals[principal] = role.get<std::string>();
  }
  return std::nullopt;
}

reader read_api_keys(const json& v, access_config& out, const std::string&) {
  auto bad = [&](const json& got) {
    return config_error("access.api_keys must be an array of {\"principal\": "
                        "name, \"sha256\": digest of the key}, got " +
                        dump(got));
  };
  if (!v.is_array())
    return bad(v);
  for (auto& k : v) {
    if (!k.is_object() || k.size() != 2 || !k.contains("principal") ||
        !k.contains("sha256") || !k["principal"].is_string() ||
        !k["sha256"].is_string())
      return bad(k);
    out.api_keys[k["sha256"].get<std::string>()] =
      k["principal"].get<std::string>();
  }
  return std::nullopt;
}

reader read_tool_lists(const json& v, access_config& out, const std::string&) {
  auto bad = [&](const std::string& key, const json& got) {
    return config_error(key + " must be an array of tool names, got " +
                        dump(got));
  };
  if (!v.is_object())
    return config_error("access.tools must be an object of role -> "
                        "{allow, deny}, got " +
                        dump(v));
  for (auto& [role, lists] : v.items()) {
    auto key = "access.tools." + role;
    if (!lists.is_object())
      return config_error(key +
                          " must be an object with 'allow' and/or 'deny', got " +
                          dump(lists));
    auto& entry = out.tools[role];
    for (auto& [which, names] : lists.items()) {
      if (which != "allow" && which != "deny")
        return config_error("unknown config key '" + key + "." + which + "'");
      if (!names.is_array())
        return bad(key + "." + which, names);
      auto& set = which == "allow" ? entry.allow : entry.deny;
      for (auto& n : names) {
        if (!n.is_string())
          return bad(key + "." + which, names);
        set.insert(n.get<std::string>());
      }
    }
  }
  return std::nullopt;
}

json object_of(json values) {
  return json{{"type", "object"}, {"additionalProperties", std::move(values)}};
}

json strings() {
  return json{{"type", "array"}, {"items", {{"type", "string"}}}};
}

} // namespace

const keys<settings>& settings_keys() {
  static const auto table =
    keys<settings>{}
      .text("rules_file", &settings::rules_file,
            "rules file (config/guardrail.rules format); empty: built-in rules")
      .integer("max_input_bytes", &settings::max_input_bytes, 1,
               int64_t{1} << 40, "longest accepted input, in bytes")
      .custom("deny_patterns", read_deny_patterns,
              [](const settings&) {
                return json{{"type", "array"},
                            {"items",
                             {{"type", "object"},
                              {"required", {"name", "regex"}},
                              {"properties",
                               {{"name", {{"type", "string"}}},
                                {"regex", {{"type", "string"}}}}}}}};
              },
              "inputs matching any of these (RE2) are denied");
  return table;
}

const keys<access_config>& access_keys() {
  static const auto table =
    keys<access_config>{}
      .custom("roles", read_roles,
              [](const access_config&) { return object_of(strings()); },
              "role -> permissions (read_memory, write_memory, execute_tools, "
              "access_files, network_access); replaces a default role")
      .custom("principals", read_principals,
              [](const access_config&) {
                return object_of({{"type", "string"}});
              },
              "principal -> role")
      .custom("api_keys", read_api_keys,
              [](const access_config&) {
                return json{
                  {"type", "array"},
                  {"items",
                   {{"type", "object"},
                    {"required", {"principal", "sha256"}},
                    {"properties",
                     {{"principal", {{"type", "string"}}},
                      {"sha256", {{"type", "string"}}}}}}}};
              },
              "API keys by digest (troupe access hash-key)")
      .custom("tools", read_tool_lists,
              [](const access_config&) {
                return object_of({{"type", "object"},
                                  {"properties",
                                   {{"allow", strings()}, {"deny", strings()}}}});
              },
              "role -> {allow, deny}: tool names a role may or may not call");
  return table;
}

} // namespace troupe::guardrail
