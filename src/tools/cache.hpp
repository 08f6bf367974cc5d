#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/json.hpp"

namespace troupe::tools {

/// Counters of a result cache (for metrics and `troupe tools` output).
struct cache_stats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  /// Entries dropped to stay within the bound (least recently used first).
  uint64_t evictions = 0;
  /// Entries found past their TTL (counted as misses too).
  uint64_t expired = 0;
  uint64_t size = 0;
};

/// Tool results by tool and canonical arguments, each with its own TTL,
/// within an LRU bound. Thread-safe (one mutex: a lookup is a hash probe).
class result_cache {
public:
  using clock = std::chrono::steady_clock;

  /// Holds at most `max_entries` results (0: caches nothing).
  explicit result_cache(size_t max_entries);

  /// The key for a call of `tool` with `args`: canonical, so argument order
  /// and spacing do not matter (nlohmann's objects are sorted).
  static std::string key(std::string_view tool, const json& args);

  /// The cached output for `key` if it is there and fresh.
  std::optional<std::string> get(const std::string& key,
                                 clock::time_point now = clock::now());

  /// Caches `output` for `key` for `ttl`.
  void put(const std::string& key, std::string output,
           std::chrono::milliseconds ttl, clock::time_point now = clock::now());

  cache_stats stats() const;

private:
  struct item {
    std::string key;
    std::string output;
    clock::time_point expires;
  };

  mutable std::mutex mtx_;
  size_t max_entries_;
  std::list<item> lru_; // most recently used first
  std::unordered_map<std::string_view, std::list<item>::iterator> index_;
  cache_stats stats_;
};

} // namespace troupe::tools
