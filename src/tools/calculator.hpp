#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"
#include "tools/tool.hpp"

namespace troupe::tools {

/// Longest expression `evaluate` accepts, in bytes.
constexpr size_t max_expression_length = 4096;

/// Deepest nesting (parentheses, unary signs, `^` chains) `evaluate` accepts;
/// bounds the parser's recursion so hostile input cannot exhaust the stack.
constexpr size_t max_expression_depth = 256;

/// Evaluates an arithmetic expression: numbers (`42`, `2.5`, `.5`, `1e3`),
/// `+ - * / %`, `^` (power, right-associative, binds tighter than a unary
/// sign on its left: `-2^2` is -4), parentheses, unary `-`/`+`, the
/// functions sqrt, abs, sin, cos, tan, log (natural; alias ln), log10, exp,
/// floor, ceil, round (one argument) and min, max (one or more arguments),
/// and the constants pi and e. Names are case-insensitive. Syntax errors fail
/// with `invalid_arguments` (positions in messages are 1-based); math errors
/// (division by zero, non-finite results) fail with `tool_failed`.
result<double> evaluate(std::string_view expression);

/// Formats `v` for people: integers without decimals (`"395"`), other values
/// with up to 15 significant digits and no trailing zeros (`"2.5"`).
std::string format_number(double v);

/// The `calculator` tool: `{"expression": "..."}` in, `{"expression": ...,
/// "result": <number>, "text": <format_number(result)>}` out.
entry calculator_tool();

} // namespace troupe::tools
