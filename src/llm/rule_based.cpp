#include "llm/rule_based.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <initializer_list>
#include <map>

#include "core/json.hpp"

namespace troupe::llm {

namespace {

constexpr std::string_view whitespace = " \t\r\n\f\v";

bool is_space(char c) noexcept {
  return whitespace.find(c) != std::string_view::npos;
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

char to_lower(char c) noexcept {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// ASCII-only lowercasing keeps byte offsets equal, so a prefix found in the
// lowercase copy cuts the original text at the same place.
std::string lower(std::string_view x) {
  std::string out{x};
  std::transform(out.begin(), out.end(), out.begin(), to_lower);
  return out;
}

std::string_view trim(std::string_view x) {
  while (!x.empty() && is_space(x.front()))
    x.remove_prefix(1);
  while (!x.empty() && is_space(x.back()))
    x.remove_suffix(1);
  return x;
}

// Whitespace plus the punctuation a sentence may end with.
std::string_view trim_clause(std::string_view x) {
  x = trim(x);
  while (!x.empty() &&
         std::string_view{".?!;,:"}.find(x.back()) != std::string_view::npos) {
    x.remove_suffix(1);
    x = trim(x);
  }
  return x;
}

std::string_view strip_quotes(std::string_view x) {
  constexpr std::string_view quotes = "\"'`";
  x = trim(x);
  while (!x.empty() && quotes.find(x.front()) != std::string_view::npos)
    x.remove_prefix(1);
  while (!x.empty() && quotes.find(x.back()) != std::string_view::npos)
    x.remove_suffix(1);
  return trim(x);
}

bool has_tool(const std::vector<tool_spec>& tools, std::string_view name) {
  return std::any_of(tools.begin(), tools.end(),
                     [name](const tool_spec& t) { return t.name == name; });
}

// Returns the text after the first of `prefixes` that `clause` starts with
// (case-insensitively), trimmed; nullopt if none matches.
std::optional<std::string_view>
after_prefix(std::string_view clause, const std::string& lowered,
             std::initializer_list<std::string_view> prefixes) {
  for (auto prefix : prefixes)
    if (std::string_view{lowered}.substr(0, prefix.size()) == prefix)
      return trim(clause.substr(prefix.size()));
  return std::nullopt;
}

// Only digits, operators, parentheses, separators and the calculator's
// function/constant names, with at least one digit. This keeps "what is the
// capital of France" away from the calculator.
bool looks_like_arithmetic(std::string_view x) {
  static constexpr std::array<std::string_view, 15> words{
    "sqrt",  "abs",  "sin",   "cos", "tan", "log", "log10", "exp",
    "floor", "ceil", "round", "min", "max", "pi",  "e"};
  bool digit = false;
  for (size_t i = 0; i < x.size();) {
    char c = x[i];
    if (is_digit(c)) {
      digit = true;
      ++i;
    } else if (is_space(c) || std::string_view{"+-*/%^().,"}.find(c) !=
                                std::string_view::npos) {
      ++i;
    } else if (is_alpha(c)) {
      size_t j = i;
      while (j < x.size() && (is_alpha(x[j]) || is_digit(x[j])))
        ++j;
      auto word = lower(x.substr(i, j - i));
      if (std::find(words.begin(), words.end(), word) == words.end())
        return false;
      i = j;
    } else {
      return false;
    }
  }
  return digit;
}

tool_call make_call(size_t index, std::string name, std::string_view key,
                    std::string_view value) {
  json args = json::object();
  args[std::string{key}] = std::string{value};
  return tool_call{"call_" + std::to_string(index + 1), std::move(name),
                   dump(args)};
}

// -- composing the final answer ---------------------------------------------

std::optional<std::string> string_field(const json& j, std::string_view key) {
  if (!j.is_object())
    return std::nullopt;
  auto i = j.find(key);
  if (i == j.end() || !i->is_string())
    return std::nullopt;
  return i->get<std::string>();
}

// The argument `key` of `call`, or `fallback` if the arguments lack it.
std::string call_arg(const tool_call& call, std::string_view key,
                     std::string_view fallback) {
  auto args = parse_object(call.arguments, "tool arguments");
  if (args)
    if (auto value = string_field(*args, key))
      return *value;
  return std::string{fallback};
}

std::string in_quotes(std::string_view x) {
  return "\"" + std::string{x} + "\"";
}

std::string without_final_dot(std::string x) {
  while (!x.empty() && (x.back() == '.' || is_space(x.back())))
    x.pop_back();
  return x;
}

// One clause's part of the answer; `block` parts (file contents) are set off
// by line breaks instead of spaces.
struct answer_part {
  std::string text;
  bool block = false;
};

answer_part describe_success(const tool_call& call, std::string_view clause,
                             const json& out) {
  auto unreadable = [&] {
    return answer_part{"The " + call.name +
                       " tool returned a result I can't read for " +
                       in_quotes(clause) + "."};
  };
  if (call.name == "calculator") {
    auto expr = string_field(out, "expression");
    auto text = string_field(out, "text");
    if (!expr || !text)
      return unreadable();
    return {*expr + " = " + *text + "."};
  }
  if (call.name == "memory_store") {
    auto text = string_field(out, "text");
    if (!text)
      text = call_arg(call, "text", clause);
    auto body = without_final_dot(*text);
    // "remember to call Bob" reads better without "that".
    if (lower(body).rfind("to ", 0) == 0)
      return {"I'll remember " + body + "."};
    return {"I'll remember that " + body + "."};
  }
  if (call.name == "memory_recall") {
    auto query = string_field(out, "query");
    if (!query)
      query = call_arg(call, "query", clause);
    auto hits = out.find("hits");
    if (hits == out.end() || !hits->is_array())
      return unreadable();
    std::string joined;
    for (auto& hit : *hits) {
      auto text = string_field(hit, "text");
      if (!text)
        continue;
      if (!joined.empty())
        joined += "; ";
      joined += without_final_dot(*text);
    }
    if (joined.empty())
      return {"I don't remember anything about " + *query + "."};
    return {"About " + *query + ", I remember: " + joined + "."};
  }
  if (call.name == "read_file") {
    auto path = string_field(out, "path");
    auto content = string_field(out, "content");
    if (!content)
      return unreadable();
    if (!path)
      path = call_arg(call, "path", clause);
    return {"Contents of " + *path + ":\n" + *content, true};
  }
  return {"The " + call.name + " tool returned: " + dump(out) + "."};
}

answer_part describe_failure(const tool_call& call, std::string_view clause,
                             std::string_view message) {
  std::string what;
  if (call.name == "calculator")
    what = "compute " + call_arg(call, "expression", clause);
  else if (call.name == "memory_store")
    what = "remember that " + call_arg(call, "text", clause);
  else if (call.name == "memory_recall")
    what = "recall anything about " + call_arg(call, "query", clause);
  else if (call.name == "read_file")
    what = "read " + call_arg(call, "path", clause);
  else
    what = "run " + call.name + " for " + in_quotes(clause);
  return {"I couldn't " + what + ": " +
          without_final_dot(std::string{message}) + "."};
}

answer_part describe_result(const tool_call& call, std::string_view clause,
                            const std::string& content) {
  auto out = parse_object(content, "tool result");
  if (!out)
    return {"The " + call.name + " tool returned an unreadable result for " +
            in_quotes(clause) + "."};
  // Failures come back as {"error": ..., "code": ...}; see error_json.
  if (auto message = string_field(*out, "error"))
    return describe_failure(call, clause, *message);
  return describe_success(call, clause, *out);
}

std::string join_parts(const std::vector<answer_part>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      bool block = parts[i].block || parts[i - 1].block;
      if (!block)
        out += ' ';
      else if (out.empty() || out.back() != '\n')
        out += '\n';
    }
    out += parts[i].text;
  }
  return out;
}

std::string cannot_handle(std::string_view clause) {
  return "I can't handle " + in_quotes(clause) +
         " offline: no tool of mine matches it.";
}

chat_response compose(const chat_request& req, size_t last_user,
                      const std::vector<std::string>& clauses) {
  // Calls the assistant made and results received since the user spoke,
  // by id; later entries win so a retried call reports its latest result.
  std::map<std::string, tool_call> calls;
  std::map<std::string, std::string> results;
  for (size_t i = last_user + 1; i < req.messages.size(); ++i) {
    auto& msg = req.messages[i];
    if (msg.role == chat_role::assistant)
      for (auto& call : msg.tool_calls)
        calls[call.id] = call;
    else if (msg.role == chat_role::tool)
      results[msg.tool_call_id] = msg.content;
  }
  std::vector<answer_part> parts;
  for (size_t i = 0; i < clauses.size(); ++i) {
    auto id = "call_" + std::to_string(i + 1);
    std::optional<tool_call> call;
    if (auto j = calls.find(id); j != calls.end())
      call = j->second;
    else
      call = map_clause(clauses[i], i, req.tools);
    if (!call) {
      parts.push_back({cannot_handle(clauses[i])});
      continue;
    }
    auto r = results.find(id);
    if (r == results.end()) {
      parts.push_back({"I asked the " + call->name + " tool about " +
                       in_quotes(clauses[i]) + " but got no result back."});
      continue;
    }
    parts.push_back(describe_result(*call, clauses[i], r->second));
  }
  if (parts.empty())
    return {"There is nothing to do: the request is empty.", {}};
  return {join_parts(parts), {}};
}

chat_response complete(const chat_request& req) {
  auto& msgs = req.messages;
  auto last_user = msgs.size();
  for (size_t i = msgs.size(); i-- > 0;)
    if (msgs[i].role == chat_role::user) {
      last_user = i;
      break;
    }
  if (last_user == msgs.size())
    return {"There is nothing to do: the request is empty.", {}};
  auto clauses = split_clauses(msgs[last_user].content);
  if (clauses.empty())
    return {"There is nothing to do: the request is empty.", {}};
  bool has_results = std::any_of(
    msgs.begin() + static_cast<std::ptrdiff_t>(last_user) + 1, msgs.end(),
    [](const chat_message& m) { return m.role == chat_role::tool; });
  if (has_results)
    return compose(req, last_user, clauses);
  chat_response out;
  for (size_t i = 0; i < clauses.size(); ++i)
    if (auto call = map_clause(clauses[i], i, req.tools))
      out.tool_calls.push_back(std::move(*call));
  if (!out.tool_calls.empty())
    return out;
  std::string list;
  for (auto& clause : clauses) {
    if (!list.empty())
      list += ", ";
    list += in_quotes(clause);
  }
  out.content = "I can't handle " + list +
                " offline: no tool of mine matches, and I don't make up "
                "answers.";
  return out;
}

} // namespace

std::vector<std::string> split_clauses(std::string_view text) {
  std::vector<std::string> out;
  auto flush = [&](std::string_view piece) {
    auto clause = trim_clause(piece);
    if (!clause.empty())
      out.emplace_back(clause);
  };
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool end = false;
    if (c == '\n')
      end = true;
    else if (std::string_view{".?!;"}.find(c) != std::string_view::npos)
      end = i + 1 == text.size() || is_space(text[i + 1]);
    if (end) {
      flush(text.substr(start, i + 1 - start));
      start = i + 1;
    }
  }
  flush(text.substr(start));
  return out;
}

std::optional<tool_call> map_clause(std::string_view clause, size_t index,
                                    const std::vector<tool_spec>& tools) {
  clause = trim_clause(clause);
  auto lowered = lower(clause);
  // The first rule whose prefix matches decides; if its tool is missing the
  // clause stays unmapped rather than falling through to a looser rule.
  auto use = [&](std::string_view tool, std::string_view key,
                 std::string_view value) -> std::optional<tool_call> {
    if (value.empty() || !has_tool(tools, tool))
      return std::nullopt;
    return make_call(index, std::string{tool}, key, value);
  };
  // Recall before store: "do you remember X" also contains "remember".
  if (auto rest =
        after_prefix(clause, lowered,
                     {"what do you remember about ", "what do you know about ",
                      "do you remember ", "recall "}))
    return use("memory_recall", "query", *rest);
  if (auto rest = after_prefix(clause, lowered,
                               {"please remember that ", "please remember ",
                                "remember that ", "remember ", "note that "}))
    return use("memory_store", "text", *rest);
  if (auto rest = after_prefix(clause, lowered,
                               {"read the file ", "read file ",
                                "show the file ", "open the file ", "cat "}))
    return use("read_file", "path", strip_quotes(*rest));
  if (auto rest = after_prefix(clause, lowered,
                               {"what is ", "what's ", "calculate ", "compute ",
                                "evaluate ", "how much is "})) {
    if (!looks_like_arithmetic(*rest))
      return std::nullopt;
    return use("calculator", "expression", *rest);
  }
  if (looks_like_arithmetic(clause))
    return use("calculator", "expression", clause);
  return std::nullopt;
}

chat_response rule_based_complete(const chat_request& req) {
  // Only allocation failure can throw here; a model must still answer.
  try {
    return complete(req);
  } catch (const std::exception& e) {
    return {std::string{"The offline model failed: "} + e.what(), {}};
  } catch (...) {
    return {"The offline model failed.", {}};
  }
}

std::vector<std::string> stream_pieces(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto end = start;
    while (end < text.size() && (text[end] == ' ' || text[end] == '\n'))
      ++end;
    while (end < text.size() && text[end] != ' ' && text[end] != '\n')
      ++end;
    out.emplace_back(text.substr(start, end - start));
    start = end;
  }
  return out;
}

} // namespace troupe::llm
