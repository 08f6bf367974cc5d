#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/types.hpp"

namespace troupe {

/// The engine's view of its supervision tree, fed by the supervisors'
/// status hooks and read from any thread (e.g. by `troupe run --trace`).
class supervision_tree {
public:
  /// Records the latest status of a child (keyed by parent and name).
  void update(const child_status& x) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& y : rows_)
      if (y.parent == x.parent && y.name == x.name) {
        y = x;
        return;
      }
    rows_.push_back(x);
  }

  /// Records that the root gave up, and why.
  void give_up(std::string reason) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!gave_up_)
      gave_up_ = std::move(reason);
  }

  /// Every child seen so far, in the order they first started (a parent
  /// starts before its children).
  std::vector<child_status> snapshot() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return rows_;
  }

  std::optional<std::string> gave_up() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return gave_up_;
  }

private:
  mutable std::mutex mtx_;
  std::vector<child_status> rows_;
  std::optional<std::string> gave_up_;
};

} // namespace troupe
