#pragma once

// Small pieces the built-in tools share: their parameter schemas and the
// checks of their configs. CAF-free.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"

namespace troupe::tools {

/// A parameters schema (JSON Schema draft-07) as text: an object with
/// `properties`, the `required` keys and no other properties.
std::string object_schema(json properties, std::vector<std::string> required);

/// Fails with `invalid_config` ("<key> must be greater than 0, got 0")
/// if `value` is 0.
result<bool> require_positive(std::string_view key, uint64_t value);

/// Fails with `invalid_config` unless `dir` names an existing directory.
result<bool> require_directory(std::string_view key,
                               const std::filesystem::path& dir);

} // namespace troupe::tools
