#pragma once

// JSON Schema checks of tool arguments (valijson, drafts 4 to 7). valijson
// stays inside schema.cpp: its headers are slow to compile, and its
// `pattern` support uses std::regex, which this project does not run on
// untrusted input: `pattern` is checked with RE2, and what would reach
// valijson's std::regex is refused (`patternProperties`, a `pattern` under
// a conditional or recursive subschema, non-local `$ref`s, long `id`s).

#include <memory>
#include <string_view>

#include "core/json.hpp"
#include "core/result.hpp"

namespace troupe::tools {

/// A compiled JSON Schema. Immutable and thread-safe once compiled.
class schema_validator {
public:
  /// Compiles `schema`, which must be a JSON object (JSON Schema draft 4 to
  /// 7; a `$schema` of a later draft is read as draft 7). Fails with
  /// `invalid_config` naming `what` and the problem (unknown type name,
  /// remote `$ref`, bad regular expression).
  static result<std::shared_ptr<const schema_validator>>
  compile(const json& schema, std::string_view what);

  /// True if `args` conforms. Otherwise `invalid_arguments` listing every
  /// violation, each naming its field as a path, e.g.
  /// "argument 'opts.mode': not one of the allowed values; argument 'path':
  /// missing (required)".
  result<bool> check(const json& args) const;

  ~schema_validator();

  struct impl;

private:
  explicit schema_validator(std::unique_ptr<impl> x);
  std::unique_ptr<impl> impl_;
};

} // namespace troupe::tools
