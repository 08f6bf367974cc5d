#pragma once

#include <filesystem>

#include "core/keys.hpp"
#include "core/result.hpp"
#include "guardrail/access.hpp"
#include "guardrail/input_filter.hpp"

namespace troupe::guardrail {

/// The guardrail's input checks and rules (key `guardrail`).
struct settings : input_filter_config {
  /// Rules file (config/guardrail.rules format) with the input and output
  /// rules, re-read on request; empty: the built-in rules (and
  /// `deny_patterns`).
  std::filesystem::path rules_file;
};

/// The declarations of the `guardrail` keys.
const keys<settings>& settings_keys();

/// The declarations of the `access` keys (roles, principals, API key
/// digests, tool lists).
const keys<access_config>& access_keys();

} // namespace troupe::guardrail
