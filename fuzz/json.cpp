// parse_json and parse_object, the one way JSON from outside enters the
// engine, with the default limits and with small ones (the first byte picks
// them). Whatever parses must survive dump() and parse back equal.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json.hpp"
#include "support.hpp"

using namespace troupe;

namespace {

/// Small limits from one byte: depth 1..16, a byte budget, the key and
/// comment switches.
parse_limits small_limits(uint8_t b, size_t size) {
  parse_limits l;
  l.max_depth = 1 + (b & 0x0f);
  // Half the input or all of it: both sides of the size check.
  l.max_bytes = (b & 0x10) ? size / 2 : size;
  l.unique_keys = (b & 0x20) == 0;
  l.comments = (b & 0x40) != 0;
  return l;
}

/// Parses `text` under `limits`; a value must dump and parse back equal.
/// The re-parse keeps the depth and the flags but not the byte budget: a
/// dump can be longer than its source ("1E2" dumps as "100.0").
void round_trip(std::string_view text, const parse_limits& limits,
                bool object) {
  auto parsed = object ? parse_object(text, "fuzz input", limits)
                       : parse_json(text, "fuzz input", limits);
  if (!parsed) {
    if (parsed.error().code != errc::invalid_input)
      fuzz::broken("a parse failure that is not invalid_input");
    return;
  }
  if (object && !parsed->is_object())
    fuzz::broken("parse_object returned something else than an object");
  auto again_limits = limits;
  again_limits.max_bytes = parse_limits{}.max_bytes;
  auto text2 = dump(*parsed);
  auto again = parse_json(text2, "dumped input", again_limits);
  if (!again)
    fuzz::broken("a parsed value does not parse back after dump()");
  if (*again != *parsed)
    fuzz::broken("a parsed value changed through dump() and parse");
  if (dump(*again) != text2)
    fuzz::broken("dump() is not stable");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
  bool object = (data[0] & 0x80) != 0;
  round_trip(text, parse_limits{}, object);
  round_trip(text, small_limits(data[0], text.size()), object);
  return 0;
}
