#pragma once

#include <string>
#include <utility>
#include <variant>

#include "core/errc.hpp"

namespace troupe {

/// An error code with a human-readable message that names the bad value.
struct failure {
  errc code = errc::unspecified;
  std::string message;
};

/// Either a value or a `failure`. Used by the CAF-free parts of the engine
/// (tools, memory, providers), so they compile without actor headers; actors
/// turn a failure into a `caf::error` at the boundary.
template <class T>
class result {
public:
  result(T value) : data_(std::move(value)) {}

  result(failure f) : data_(std::move(f)) {}

  result(errc code, std::string message)
    : data_(failure{code, std::move(message)}) {}

  /// True if this holds a value.
  explicit operator bool() const noexcept {
    return data_.index() == 0;
  }

  /// The value; requires `*this` to hold one.
  T& operator*() & {
    return std::get<0>(data_);
  }

  const T& operator*() const& {
    return std::get<0>(data_);
  }

  T&& operator*() && {
    return std::get<0>(std::move(data_));
  }

  T* operator->() {
    return &std::get<0>(data_);
  }

  const T* operator->() const {
    return &std::get<0>(data_);
  }

  /// The value, or `fallback` if this holds a failure.
  T value_or(T fallback) && {
    if (data_.index() == 0)
      return std::get<0>(std::move(data_));
    return fallback;
  }

  /// The failure; requires `*this` to hold one.
  const failure& error() const {
    return std::get<1>(data_);
  }

private:
  std::variant<T, failure> data_;
};

} // namespace troupe
