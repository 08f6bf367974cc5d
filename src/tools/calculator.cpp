#include "tools/calculator.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

namespace troupe::tools {

namespace {

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

failure syntax_error(std::string message) {
  return failure{errc::invalid_arguments, std::move(message)};
}

failure math_error(std::string message) {
  return failure{errc::tool_failed, std::move(message)};
}

// Non-finite intermediate values are errors right away: an overflow that a
// later operation turns back into a finite number would give a wrong answer.
result<double> finite(double x) {
  if (!std::isfinite(x))
    return math_error("result is not a finite number");
  return x;
}

class parser {
public:
  explicit parser(std::string_view text) : text_(text) {}

  result<double> run() {
    skip_space();
    if (at_end())
      return syntax_error("empty expression");
    auto x = parse_expr();
    if (!x)
      return x;
    skip_space();
    if (!at_end())
      return unexpected();
    return finite(*x);
  }

private:
  bool at_end() const noexcept {
    return pos_ >= text_.size();
  }

  char peek() const noexcept {
    return at_end() ? '\0' : text_[pos_];
  }

  void skip_space() noexcept {
    while (!at_end() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                         text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  // Quotes the character at `pos_` readably: a whole UTF-8 sequence for
  // non-ASCII input (so the message stays valid UTF-8), hex for controls.
  std::string quoted_char() const {
    auto c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x80) {
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      return "'" + std::string{text_.substr(pos_, len)} + "'";
    }
    if (c < 0x20 || c == 0x7F) {
      static constexpr char hex[] = "0123456789abcdef";
      return std::string{"'\\x"} + hex[c >> 4] + hex[c & 0xF] + "'";
    }
    return "'" + std::string(1, static_cast<char>(c)) + "'";
  }

  failure unexpected() const {
    if (at_end())
      return syntax_error("unexpected end of expression");
    return syntax_error("unexpected character " + quoted_char() +
                        " at position " + std::to_string(pos_ + 1));
  }

  // expr := term (('+' | '-') term)*
  result<double> parse_expr() {
    auto lhs = parse_term();
    if (!lhs)
      return lhs;
    double x = *lhs;
    for (;;) {
      skip_space();
      char op = peek();
      if (op != '+' && op != '-')
        return x;
      ++pos_;
      auto rhs = parse_term();
      if (!rhs)
        return rhs;
      auto y = finite(op == '+' ? x + *rhs : x - *rhs);
      if (!y)
        return y;
      x = *y;
    }
  }

  // term := unary (('*' | '/' | '%') unary)*
  result<double> parse_term() {
    auto lhs = parse_unary();
    if (!lhs)
      return lhs;
    double x = *lhs;
    for (;;) {
      skip_space();
      char op = peek();
      if (op != '*' && op != '/' && op != '%')
        return x;
      ++pos_;
      auto rhs = parse_unary();
      if (!rhs)
        return rhs;
      double r;
      if (op == '*') {
        r = x * *rhs;
      } else if (*rhs == 0) {
        return math_error(op == '/' ? "division by zero" : "modulo by zero");
      } else {
        r = op == '/' ? x / *rhs : std::fmod(x, *rhs);
      }
      auto y = finite(r);
      if (!y)
        return y;
      x = *y;
    }
  }

  // unary := ('-' | '+') unary | power
  // Every recursive path (parentheses, sign chains, exponent chains) passes
  // through here, so this is where the depth limit lives.
  result<double> parse_unary() {
    if (++depth_ > max_expression_depth)
      return syntax_error("expression is nested too deeply (limit " +
                          std::to_string(max_expression_depth) + ")");
    auto res = parse_unary_impl();
    --depth_;
    return res;
  }

  result<double> parse_unary_impl() {
    skip_space();
    char c = peek();
    if (c == '-' || c == '+') {
      ++pos_;
      auto x = parse_unary();
      if (!x)
        return x;
      return c == '-' ? -*x : *x;
    }
    return parse_power();
  }

  // power := primary ('^' unary)?  -- right-associative; the exponent may
  // carry its own sign (2^-1).
  result<double> parse_power() {
    auto base = parse_primary();
    if (!base)
      return base;
    skip_space();
    if (peek() != '^')
      return base;
    ++pos_;
    auto exponent = parse_unary();
    if (!exponent)
      return exponent;
    return finite(std::pow(*base, *exponent));
  }

  // primary := number | name | name '(' args ')' | '(' expr ')'
  result<double> parse_primary() {
    skip_space();
    if (at_end())
      return unexpected();
    char c = peek();
    if (is_digit(c) || c == '.')
      return parse_number();
    if (is_alpha(c))
      return parse_name();
    if (c == '(') {
      ++pos_;
      auto x = parse_expr();
      if (!x)
        return x;
      if (auto ok = expect_close(); !ok)
        return ok.error();
      return x;
    }
    return unexpected();
  }

  result<bool> expect_close() {
    skip_space();
    if (at_end())
      return syntax_error("missing ')'");
    if (peek() != ')')
      return unexpected();
    ++pos_;
    return true;
  }

  result<double> parse_number() {
    auto start = pos_;
    while (!at_end() && is_digit(peek()))
      ++pos_;
    if (peek() == '.') {
      ++pos_;
      while (!at_end() && is_digit(peek()))
        ++pos_;
    }
    if (pos_ - start == 1 && text_[start] == '.') {
      pos_ = start;
      return unexpected();
    }
    // An exponent only counts if digits follow; otherwise the 'e' is left
    // for the caller to reject ("2e" is not 2 * e).
    if (peek() == 'e' || peek() == 'E') {
      auto save = pos_;
      ++pos_;
      if (peek() == '+' || peek() == '-')
        ++pos_;
      if (is_digit(peek())) {
        while (!at_end() && is_digit(peek()))
          ++pos_;
      } else {
        pos_ = save;
      }
    }
    auto literal = text_.substr(start, pos_ - start);
    // from_chars does not accept a leading '.', so parse "0" + literal then.
    std::string buf;
    if (literal.front() == '.')
      buf = "0";
    buf += literal;
    double x = 0;
    auto [ptr, ec] = std::from_chars(buf.data(), buf.data() + buf.size(), x);
    if (ec == std::errc::result_out_of_range)
      return syntax_error("number '" + std::string{literal} + "' at position " +
                          std::to_string(start + 1) + " is out of range");
    if (ec != std::errc{} || ptr != buf.data() + buf.size())
      return syntax_error("invalid number '" + std::string{literal} +
                          "' at position " + std::to_string(start + 1));
    return x;
  }

  result<double> parse_name() {
    auto start = pos_;
    while (!at_end() && (is_alpha(peek()) || is_digit(peek())))
      ++pos_;
    std::string name;
    for (auto ch : text_.substr(start, pos_ - start))
      name += to_lower(ch);
    skip_space();
    if (peek() != '(') {
      if (name == "pi")
        return std::numbers::pi;
      if (name == "e")
        return std::numbers::e;
      return syntax_error("unknown name '" +
                          std::string{text_.substr(start, name.size())} +
                          "' at position " + std::to_string(start + 1));
    }
    ++pos_;
    auto fn = lookup(name);
    if (fn.arity == 0)
      return syntax_error("unknown function '" +
                          std::string{text_.substr(start, name.size())} + "'");
    std::vector<double> args;
    skip_space();
    if (peek() != ')') {
      for (;;) {
        auto x = parse_expr();
        if (!x)
          return x;
        args.push_back(*x);
        skip_space();
        if (peek() != ',')
          break;
        ++pos_;
      }
    }
    if (auto ok = expect_close(); !ok)
      return ok.error();
    if (fn.arity == 1 && args.size() != 1)
      return syntax_error("function '" + name + "' takes 1 argument, got " +
                          std::to_string(args.size()));
    if (fn.arity == -1 && args.empty())
      return syntax_error("function '" + name +
                          "' takes at least 1 argument, got 0");
    return finite(fn.apply(name, args));
  }

  struct function_info {
    // 0: unknown, 1: exactly one argument, -1: one or more.
    int arity = 0;

    double apply(const std::string& name,
                 const std::vector<double>& args) const {
      if (arity == -1) {
        double x = args.front();
        for (auto y : args)
          x = name == "min" ? std::fmin(x, y) : std::fmax(x, y);
        return x;
      }
      return unary(args.front());
    }

    double (*unary)(double) = nullptr;
  };

  static function_info lookup(const std::string& name) {
    struct row {
      std::string_view name;
      double (*fn)(double);
    };
    static const row rows[] = {
      {"sqrt", [](double x) { return std::sqrt(x); }},
      {"abs", [](double x) { return std::fabs(x); }},
      {"sin", [](double x) { return std::sin(x); }},
      {"cos", [](double x) { return std::cos(x); }},
      {"tan", [](double x) { return std::tan(x); }},
      {"log", [](double x) { return std::log(x); }},
      {"ln", [](double x) { return std::log(x); }},
      {"log10", [](double x) { return std::log10(x); }},
      {"exp", [](double x) { return std::exp(x); }},
      {"floor", [](double x) { return std::floor(x); }},
      {"ceil", [](double x) { return std::ceil(x); }},
      {"round", [](double x) { return std::round(x); }},
    };
    if (name == "min" || name == "max")
      return {-1, nullptr};
    for (auto& r : rows)
      if (r.name == name)
        return {1, r.fn};
    return {};
  }

  std::string_view text_;
  size_t pos_ = 0;
  size_t depth_ = 0;
};

} // namespace

result<double> evaluate(std::string_view expression) {
  if (expression.size() > max_expression_length)
    return syntax_error(
      "expression is too long (" + std::to_string(expression.size()) +
      " characters, limit " + std::to_string(max_expression_length) + ")");
  return parser{expression}.run();
}

std::string format_number(double v) {
  char buf[64];
  // Integers below 1e15 are exact in a double: print them without a
  // fraction or exponent. `v + 0.0` turns -0 into 0.
  if (std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 1e15) {
    auto [ptr, ec] =
      std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v + 0.0));
    return std::string(buf, ptr);
  }
  auto [ptr, ec] =
    std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 15);
  if (ec != std::errc{})
    return "nan";
  return std::string(buf, ptr);
}

entry calculator_tool() {
  entry out;
  out.spec.name = "calculator";
  out.spec.description =
    "Evaluates an arithmetic expression (double precision) and returns the "
    "number. "
    "Supports + - * / % ^ (power), parentheses, unary minus, the functions "
    "sqrt, abs, sin, cos, tan, log (natural), log10, exp, floor, ceil, "
    "round, min, max, and the constants pi and e.";
  json params = {
    {"type", "object"},
    {"properties",
     {{"expression",
       {{"type", "string"},
        {"description", "The expression to evaluate, e.g. \"17 * 23 + 4\" or "
                        "\"sqrt(2) ^ 2\"."}}}}},
    {"required", json::array({"expression"})},
    {"additionalProperties", false},
  };
  out.spec.parameters = dump(params);
  out.spec.idempotent = true;
  // Pure and cheap: it runs on the executor's own thread, and caching would
  // cost more than computing.
  out.mode = run_mode::immediate;
  out.fn = [](const json& args, const context&) -> result<json> {
    for (auto& [key, value] : args.items())
      if (key != "expression")
        return failure{errc::invalid_arguments,
                       "unexpected argument '" + key + "'"};
    auto expr = string_arg(args, "expression");
    if (!expr)
      return expr.error();
    auto value = evaluate(*expr);
    if (!value)
      return value.error();
    json out;
    out["expression"] = *expr;
    out["result"] = *value;
    out["text"] = format_number(*value);
    return out;
  };
  return out;
}

} // namespace troupe::tools
