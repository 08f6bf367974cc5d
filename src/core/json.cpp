#include "core/json.hpp"

#include <vector>

namespace troupe {

std::string dump(const json& x) {
  return x.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

/// "~" and "/" escaped for a JSON pointer segment (RFC 6901).
void append_segment(std::string& out, std::string_view key) {
  out += '/';
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
}

/// Builds the value from nlohmann's SAX events (its parser is iterative),
/// refusing too deep nesting and repeated keys as they come.
class bounded_builder {
public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  bounded_builder(json& root, const parse_limits& limits)
    : root_(root), limits_(limits) {
  }

  bool null() {
    return put(nullptr) != nullptr;
  }
  bool boolean(bool x) {
    return put(x) != nullptr;
  }
  bool number_integer(number_integer_t x) {
    return put(x) != nullptr;
  }
  bool number_unsigned(number_unsigned_t x) {
    return put(x) != nullptr;
  }
  bool number_float(number_float_t x, const string_t&) {
    return put(x) != nullptr;
  }
  bool string(string_t& x) {
    return put(std::move(x)) != nullptr;
  }
  bool binary(binary_t& x) {
    return put(json::binary(std::move(x))) != nullptr;
  }

  bool start_object(size_t) {
    return open(json::object());
  }
  bool key(string_t& k) {
    auto& obj = levels_.back().value->get_ref<json::object_t&>();
    auto [it, fresh] = obj.emplace(std::move(k), nullptr);
    if (!fresh && limits_.unique_keys) {
      // Named in the message, not in the pointer to where it is.
      error_ = "has the key \"" + it->first + "\" twice";
      levels_.back().key = nullptr;
      return false;
    }
    levels_.back().key = &it->first;
    // A repeated key, allowed: the last value wins, as nlohmann does.
    it->second = nullptr;
    levels_.back().slot = &it->second;
    return true;
  }
  bool end_object() {
    levels_.pop_back();
    return true;
  }
  bool start_array(size_t) {
    return open(json::array());
  }
  bool end_array() {
    levels_.pop_back();
    return true;
  }

  bool parse_error(size_t, const std::string&,
                   const nlohmann::detail::exception& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line
    // 1, column 14: syntax error …": keep what follows the bracket.
    std::string why = e.what();
    if (auto end = why.find("] "); end != std::string::npos)
      why.erase(0, end + 2);
    error_ = "is not valid JSON: " + why;
    return false;
  }

  /// Why the text was refused (empty if it was not).
  const std::string& error() const {
    return error_;
  }

  /// Where the value being read was when it was refused.
  std::string where() const {
    std::string out;
    for (size_t i = 0; i < levels_.size(); ++i) {
      auto& l = levels_[i];
      if (l.value->is_object()) {
        if (l.key == nullptr)
          break;
        append_segment(out, *l.key);
      } else if (!l.value->empty()) {
        out += '/';
        out += std::to_string(l.value->size() - 1);
      }
    }
    return out;
  }

private:
  struct level {
    json* value;
    /// Objects: the key being read and where its value goes.
    const std::string* key = nullptr;
    json* slot = nullptr;
  };

  /// Stores `x` where the next value goes: the root, the key just read,
  /// or the end of the array.
  template <class T>
  json* put(T&& x) {
    if (levels_.empty()) {
      root_ = json(std::forward<T>(x));
      return &root_;
    }
    auto& top = levels_.back();
    if (top.value->is_object()) {
      *top.slot = json(std::forward<T>(x));
      return top.slot;
    }
    auto& arr = top.value->get_ref<json::array_t&>();
    arr.emplace_back(std::forward<T>(x));
    return &arr.back();
  }

  bool open(json empty) {
    if (levels_.size() >= limits_.max_depth) {
      error_ = "nests deeper than " + std::to_string(limits_.max_depth) +
               " levels";
      return false;
    }
    auto* at = put(std::move(empty));
    levels_.push_back({at});
    return true;
  }

  json& root_;
  const parse_limits& limits_;
  std::vector<level> levels_;
  std::string error_;
};

} // namespace

result<json> parse_json(std::string_view text, std::string_view what,
                        const parse_limits& limits) {
  if (text.size() > limits.max_bytes)
    return failure{errc::invalid_input,
                   std::string{what} + " is " + std::to_string(text.size()) +
                     " bytes, more than the limit of " +
                     std::to_string(limits.max_bytes)};
  json out;
  bounded_builder b{out, limits};
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &b,
                         json::input_format_t::json, true, limits.comments);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    return failure{errc::invalid_input,
                   std::string{what} + " could not be read: " + e.what()};
  }
  if (ok && b.error().empty())
    return out;
  auto where = b.where();
  // Whatever was built stays shallower than the limit: destroying it is
  // safe.
  return failure{errc::invalid_input,
                 std::string{what} +
                   (where.empty() ? "" : " at " + where) + " " +
                   (b.error().empty() ? "is not valid JSON" : b.error())};
}

result<json> parse_object(std::string_view text, std::string_view what,
                          const parse_limits& limits) {
  auto parsed = parse_json(text, what, limits);
  if (!parsed)
    return parsed;
  if (!parsed->is_object())
    return failure{errc::invalid_input, std::string{what} +
                                          " must be a JSON object, got " +
                                          parsed->type_name()};
  return parsed;
}

std::string error_json(const failure& f) {
  json j;
  j["error"] = f.message;
  j["code"] = std::string{to_string(f.code)};
  return dump(j);
}

} // namespace troupe
