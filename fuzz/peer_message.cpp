// What a peer node can send, as CAF reads it off the wire: the input (after
// its first byte) through caf::binary_deserializer into the type the first
// byte picks (fuzz/peer_types.hpp): a whole caf::message, whose elements
// CAF makes by their registered names (every troupe type), an error, or
// one protocol struct. The actor system is made once, with troupe's types
// registered as the runtime registers them (no network module: a remote
// actor handle fails to load, as it must without one). A value that loads
// must serialize, load again and serialize to the same bytes.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "actors/protocol.hpp"
#include "peer_types.hpp"
#include "support.hpp"

using namespace troupe;

namespace {

caf::actor_system_config* sys_cfg = nullptr;
caf::actor_system* sys = nullptr;

// CAF 0.17's binary serializer loops forever on an infinite double
// (detail::pack754 halves it until it is below 2), and its deserializer
// makes one from any exponent of all ones. memory_hit::score is the only
// double in the protocol: values holding an infinite one are not written
// back (fuzz/README.md), so the rest keeps being checked.

bool finite(const memory_hit& x) {
  return std::isfinite(x.score);
}

bool finite(const std::vector<memory_hit>& xs) {
  for (auto& x : xs)
    if (!finite(x))
      return false;
  return true;
}

bool finite(const task_result& x) {
  return finite(x.memories);
}

bool finite(const caf::message& msg);

bool finite(const caf::error& err) {
  // No context without an error (context() requires one).
  return !err || finite(err.context());
}

bool finite(const caf::message& msg) {
  for (size_t i = 0; i < msg.size(); ++i) {
    if (msg.match_element<memory_hit>(i) && !finite(msg.get_as<memory_hit>(i)))
      return false;
    if (msg.match_element<std::vector<memory_hit>>(i) &&
        !finite(msg.get_as<std::vector<memory_hit>>(i)))
      return false;
    if (msg.match_element<task_result>(i) &&
        !finite(msg.get_as<task_result>(i)))
      return false;
    if (msg.match_element<caf::message>(i) &&
        !finite(msg.get_as<caf::message>(i)))
      return false;
    if (msg.match_element<caf::error>(i) && !finite(msg.get_as<caf::error>(i)))
      return false;
  }
  return true;
}

template <class T>
bool finite(const T&) {
  return true;
}

template <class T>
std::optional<std::vector<char>> serialize(T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{*sys, buf};
  if (sink(x))
    return std::nullopt;
  return buf;
}

template <class T>
void round_trip(const char* data, size_t size) {
  T x;
  caf::binary_deserializer source{*sys, data, size};
  if (source(x))
    return; // refused, as a node refuses it
  if (!finite(x))
    return;
  auto first = serialize(x);
  if (!first)
    return;
  T y;
  caf::binary_deserializer again{*sys, first->data(), first->size()};
  if (again(y))
    fuzz::broken("a value CAF wrote does not load again");
  auto second = serialize(y);
  if (!second || *second != *first)
    fuzz::broken("a value loaded from CAF's bytes writes other bytes");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  sys_cfg = new caf::actor_system_config;
  register_types(*sys_cfg);
  // Never destroyed: exit() runs the thread-local destructors first, and
  // an actor system destroyed after them crashes CAF 0.17 (freed twice).
  sys = new caf::actor_system{*sys_cfg};
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto bytes = reinterpret_cast<const char*>(data) + 1;
  fuzz::with_peer_type(data[0] % fuzz::peer_type_count, [&](auto tag) {
    round_trip<typename decltype(tag)::type>(bytes, size - 1);
  });
  return 0;
}
