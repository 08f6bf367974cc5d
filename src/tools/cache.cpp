#include "tools/cache.hpp"

namespace troupe::tools {

result_cache::result_cache(size_t max_entries) : max_entries_(max_entries) {}

std::string result_cache::key(std::string_view tool, const json& args) {
  std::string out{tool};
  out += '\n';
  out += args.dump();
  return out;
}

std::optional<std::string> result_cache::get(const std::string& key,
                                             clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = index_.find(key);
  if (i == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  auto it = i->second;
  if (it->expires <= now) {
    ++stats_.misses;
    ++stats_.expired;
    index_.erase(i);
    lru_.erase(it);
    return std::nullopt;
  }
  ++stats_.hits;
  lru_.splice(lru_.begin(), lru_, it);
  return it->output;
}

void result_cache::put(const std::string& key, std::string output,
                       std::chrono::milliseconds ttl, clock::time_point now) {
  if (max_entries_ == 0 || ttl.count() <= 0)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = index_.find(key); i != index_.end()) {
    auto it = i->second;
    it->output = std::move(output);
    it->expires = now + ttl;
    lru_.splice(lru_.begin(), lru_, it);
    return;
  }
  while (lru_.size() >= max_entries_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
    ++stats_.evictions;
  }
  lru_.push_front(item{key, std::move(output), now + ttl});
  index_.emplace(lru_.front().key, lru_.begin());
}

cache_stats result_cache::stats() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto out = stats_;
  out.size = lru_.size();
  return out;
}

} // namespace troupe::tools
