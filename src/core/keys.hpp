#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.hpp"
#include "core/result.hpp"

namespace troupe {

/// A config error: `errc::invalid_config` with `message`.
failure config_error(std::string message);

/// `prefix.key`, or `key` at the top.
std::string key_path(const std::string& prefix, const std::string& key);

/// Describes a range for messages: "in 1..1000", or "> 0" / ">= N" when the
/// top is so large it says nothing.
std::string range_text(int64_t min, int64_t max);

/// An error unless `v` is an integer in min..max; names `path`.
std::optional<failure> integer_in(const json& v, const std::string& path,
                                  int64_t min, int64_t max);

/// The non-empty items of a comma-separated list ("a:1,b:2").
std::vector<std::string> split_list(std::string_view text);

/// The declarations of a settings struct's config keys: one line per key
/// (name, member, range, one-line doc; the default is the member's
/// initializer). One reader, one range check and one describer walk the
/// table, so a key's range is written once. Modules declare the table of
/// their own settings beside their code; the aggregate config composes them.
template <class T>
class keys {
public:
  /// Reads the value of this key into a T; the string is its dotted path.
  using reader_fn =
    std::function<std::optional<failure>(const json&, T&, const std::string&)>;
  /// Checks a T's member; the string is the key's dotted path.
  using checker_fn =
    std::function<std::optional<failure>(const T&, const std::string&)>;
  /// A JSON Schema fragment of the key, given the defaults.
  using describer_fn = std::function<json(const T&)>;

  struct key {
    std::string name;
    std::string doc;
    reader_fn read;
    checker_fn check;
    describer_fn describe;
  };

  /// An integer member read from a JSON integer in min..max.
  template <class M, class C>
  keys& integer(std::string name, M C::*member, int64_t min, int64_t max,
                std::string doc) {
    auto read = [=](const json& v, T& out, const std::string& path)
      -> std::optional<failure> {
      if (auto f = integer_in(v, path, min, max))
        return f;
      out.*member = static_cast<M>(v.get<int64_t>());
      return std::nullopt;
    };
    auto check = [=](const T& in,
                     const std::string& path) -> std::optional<failure> {
      auto x = static_cast<int64_t>(in.*member);
      if (x < min || x > max)
        return config_error(path + " must be " + range_text(min, max) +
                            ", got " + std::to_string(x));
      return std::nullopt;
    };
    auto describe = [=](const T& d) {
      return json{{"type", "integer"},
                  {"minimum", min},
                  {"maximum", max},
                  {"default", static_cast<int64_t>(d.*member)}};
    };
    return add(std::move(name), std::move(doc), read, check, describe);
  }

  /// A duration member read from an integer number of milliseconds in
  /// min..max (the key's name ends in `_ms`; messages about the member
  /// name it without the suffix).
  template <class C>
  keys& millis(std::string name, std::chrono::milliseconds C::*member,
               int64_t min, int64_t max, std::string doc) {
    auto read = [=](const json& v, T& out, const std::string& path)
      -> std::optional<failure> {
      if (auto f = integer_in(v, path, min, max))
        return f;
      out.*member = std::chrono::milliseconds{v.get<int64_t>()};
      return std::nullopt;
    };
    auto check = [=](const T& in,
                     const std::string& path) -> std::optional<failure> {
      auto x = (in.*member).count();
      auto name = path.size() > 3 && path.ends_with("_ms")
                    ? path.substr(0, path.size() - 3)
                    : path;
      if (x < min)
        return config_error(name + " must be " +
                            (min == 1 ? std::string{"> 0"}
                                      : ">= " + std::to_string(min)) +
                            " ms, got " + std::to_string(x));
      if (x > max)
        return config_error(name + " must be at most " + std::to_string(max) +
                            " ms, got " + std::to_string(x));
      return std::nullopt;
    };
    auto describe = [=](const T& d) {
      return json{{"type", "integer"},
                  {"minimum", min},
                  {"maximum", max},
                  {"default", (d.*member).count()}};
    };
    return add(std::move(name), std::move(doc), read, check, describe);
  }

  /// A number member read from any JSON number in min..max.
  template <class C>
  keys& real(std::string name, double C::*member, double min, double max,
             std::string doc) {
    auto read = [=](const json& v, T& out, const std::string& path)
      -> std::optional<failure> {
      if (!v.is_number() || v.get<double>() < min || v.get<double>() > max)
        return config_error(path + " must be a number in " + dump(min) +
                            ".." + dump(max) + ", got " + dump(v));
      out.*member = v.get<double>();
      return std::nullopt;
    };
    auto check = [=](const T& in,
                     const std::string& path) -> std::optional<failure> {
      if (!(in.*member >= min && in.*member <= max))
        return config_error(path + " must be a number in " + dump(min) +
                            ".." + dump(max) + ", got " + dump(in.*member));
      return std::nullopt;
    };
    auto describe = [=](const T& d) {
      return json{{"type", "number"},
                  {"minimum", min},
                  {"maximum", max},
                  {"default", d.*member}};
    };
    return add(std::move(name), std::move(doc), read, check, describe);
  }

  /// A true/false member.
  template <class C>
  keys& flag(std::string name, bool C::*member, std::string doc) {
    auto read = [=](const json& v, T& out, const std::string& path)
      -> std::optional<failure> {
      if (!v.is_boolean())
        return config_error(path + " must be true or false, got " + dump(v));
      out.*member = v.get<bool>();
      return std::nullopt;
    };
    auto describe = [=](const T& d) {
      return json{{"type", "boolean"}, {"default", d.*member}};
    };
    return add(std::move(name), std::move(doc), read, nullptr, describe);
  }

  /// A string member (std::string, a path, or an optional string, which a
  /// present key sets even to "").
  template <class M, class C>
  keys& text(std::string name, M C::*member, std::string doc) {
    auto read = [=](const json& v, T& out, const std::string& path)
      -> std::optional<failure> {
      if (!v.is_string())
        return config_error(path + " must be a string, got " + dump(v));
      out.*member = M{v.get<std::string>()};
      return std::nullopt;
    };
    auto describe = [=](const T& d) {
      json out{{"type", "string"}};
      if constexpr (std::is_same_v<M, std::filesystem::path>)
        out["default"] = (d.*member).string();
      else if constexpr (std::is_same_v<M, std::string>)
        out["default"] = d.*member;
      return out;
    };
    return add(std::move(name), std::move(doc), read, nullptr, describe);
  }

  /// A list of strings; with `comma`, one string of comma-separated items
  /// is read as the list (handy in a variable: TROUPE_CLUSTER_SEEDS=a:1,b:2).
  template <class C>
  keys& list(std::string name, std::vector<std::string> C::*member,
             std::string doc, bool comma = false) {
    auto read = [=](const json& v, T& out, const std::string& path)
      -> std::optional<failure> {
      if (comma && v.is_string()) {
        out.*member = split_list(v.get<std::string>());
        return std::nullopt;
      }
      auto bad = config_error(path + " must be a list of strings, got " +
                              dump(v));
      if (!v.is_array())
        return bad;
      std::vector<std::string> xs;
      for (auto& x : v) {
        if (!x.is_string())
          return bad;
        xs.push_back(x.get<std::string>());
      }
      out.*member = std::move(xs);
      return std::nullopt;
    };
    auto describe = [=](const T& d) {
      json items{{"type", "array"},
                 {"items", {{"type", "string"}}},
                 {"default", d.*member}};
      if (!comma)
        return items;
      return json{{"anyOf", {items, {{"type", "string"}}}},
                  {"default", d.*member}};
    };
    return add(std::move(name), std::move(doc), read, nullptr, describe);
  }

  /// A sub-object read by `sub`'s declarations (key `name.*`).
  template <class U, class C>
  keys& section(std::string name, U C::*member, const keys<U>& sub,
                std::string doc) {
    auto read = [member, &sub](const json& v, T& out,
                               const std::string& path) {
      return sub.read(v, out.*member, path);
    };
    auto check = [member, &sub](const T& in, const std::string& path) {
      return sub.check(in.*member, path);
    };
    auto describe = [member, &sub](const T& d) {
      return sub.schema(d.*member);
    };
    return add(std::move(name), std::move(doc), read, check, describe);
  }

  /// A key read by hand (for shapes the others do not cover: maps of named
  /// entries, lists of objects); `describe` gives its JSON Schema.
  keys& custom(std::string name, reader_fn read, describer_fn describe,
               std::string doc, checker_fn check = nullptr) {
    return add(std::move(name), std::move(doc), std::move(read),
               std::move(check), std::move(describe));
  }

  /// A key that was replaced: reading it is the error `message`.
  keys& retired(std::string name, std::string message) {
    retired_.emplace_back(std::move(name), std::move(message));
    return *this;
  }

  /// Every declaration of a base class of T (its keys, at this level).
  template <class B>
  keys& include(const keys<B>& base) {
    static_assert(std::is_base_of_v<B, T>);
    for (auto& k : base.entries()) {
      auto read = [&k](const json& v, T& out, const std::string& path) {
        return k.read(v, static_cast<B&>(out), path);
      };
      checker_fn check;
      if (k.check)
        check = [&k](const T& in, const std::string& path) {
          return k.check(static_cast<const B&>(in), path);
        };
      auto describe = [&k](const T& d) {
        return k.describe(static_cast<const B&>(d));
      };
      add(k.name, k.doc, read, check, describe);
    }
    for (auto& r : base.retired_keys())
      retired_.push_back(r);
    return *this;
  }

  /// Applies the JSON object `obj` (the part at `prefix`) on `out`: declared
  /// keys in declaration order, then the first unknown key is an error.
  std::optional<failure> read(const json& obj, T& out,
                              const std::string& prefix) const {
    if (!obj.is_object())
      return config_error(prefix + " must be an object, got " + dump(obj));
    for (auto& [name, message] : retired_)
      if (obj.contains(name))
        return config_error(message);
    for (auto& k : entries_)
      if (auto i = obj.find(k.name); i != obj.end())
        if (auto f = k.read(*i, out, key_path(prefix, k.name)))
          return f;
    for (auto& [name, v] : obj.items())
      if (!find(name))
        return config_error("unknown config key '" + key_path(prefix, name) +
                            "'");
    return std::nullopt;
  }

  /// Checks every member against its declared range.
  std::optional<failure> check(const T& in, const std::string& prefix) const {
    for (auto& k : entries_)
      if (k.check)
        if (auto f = k.check(in, key_path(prefix, k.name)))
          return f;
    return std::nullopt;
  }

  /// A JSON Schema of the object, with each key's doc and default.
  json schema(const T& defaults) const {
    json props = json::object();
    for (auto& k : entries_) {
      auto s = k.describe(defaults);
      s["description"] = k.doc;
      props[k.name] = std::move(s);
    }
    return json{{"type", "object"},
                {"additionalProperties", false},
                {"properties", std::move(props)}};
  }

  const key* find(std::string_view name) const {
    for (auto& k : entries_)
      if (k.name == name)
        return &k;
    return nullptr;
  }

  const std::vector<key>& entries() const {
    return entries_;
  }

  const std::vector<std::pair<std::string, std::string>>&
  retired_keys() const {
    return retired_;
  }

private:
  keys& add(std::string name, std::string doc, reader_fn read,
            checker_fn check, describer_fn describe) {
    entries_.push_back(key{std::move(name), std::move(doc), std::move(read),
                           std::move(check), std::move(describe)});
    return *this;
  }

  std::vector<key> entries_;
  std::vector<std::pair<std::string, std::string>> retired_;
};

/// Reads a map of named entries (an object of name -> object), each by
/// `sub` over the entry's current value (a new entry starts as `U{}`).
template <class T, class U, class Map>
typename keys<T>::reader_fn named_entries(Map T::*member, const keys<U>& sub) {
  return [member, &sub](const json& v, T& out,
                        const std::string& path) -> std::optional<failure> {
    if (!v.is_object())
      return config_error(path + " must be an object of name -> settings, got " +
                          dump(v));
    for (auto& [name, spec] : v.items()) {
      auto key = path + "." + name;
      if (!spec.is_object())
        return config_error(key + " must be an object");
      auto& entry = (out.*member)[name];
      if (auto f = sub.read(spec, entry, key))
        return f;
    }
    return std::nullopt;
  };
}

} // namespace troupe
