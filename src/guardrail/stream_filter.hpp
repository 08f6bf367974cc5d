#pragma once

// The output filter for text that streams: a model's answer arrives piece
// by piece, and each piece must leave the engine as the whole answer
// would (personal data masked, a blocked text withheld). A piece that may
// be the start of a match is held back until enough follows it; what goes
// out is cut at whitespace, and only where filtering the two sides apart
// gives what filtering them together does. CAF-free.

#include <memory>
#include <string>
#include <string_view>

#include "guardrail/output_filter.hpp"

namespace troupe::guardrail {

class stream_filter {
public:
  /// Filters with `filter` (null: passes text through), holding back at
  /// least `hold` bytes until the stream ends.
  explicit stream_filter(std::shared_ptr<const output_filter> filter,
                         size_t hold = 48);

  /// Takes the next piece; returns what may leave now (often nothing).
  std::string feed(std::string_view piece);

  /// The stream (one model answer) ended: the rest, filtered.
  std::string flush();

  /// True once a block rule matched: nothing more leaves.
  bool withheld() const noexcept {
    return withheld_;
  }

private:
  /// `text` filtered; sets `withheld_` (and returns the mark, once) if a
  /// block rule matches.
  std::string pass(std::string_view text);

  std::shared_ptr<const output_filter> filter_;
  size_t hold_;
  std::string pending_;
  bool withheld_ = false;
};

} // namespace troupe::guardrail
