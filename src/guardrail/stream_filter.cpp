#include "guardrail/stream_filter.hpp"

namespace troupe::guardrail {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/// The last cut at whitespace in `text` that leaves at least `hold` bytes
/// after it; past `hold` × 8 bytes without whitespace, a cut at a UTF-8
/// character boundary `hold` bytes from the end. 0: none yet.
size_t cut_point(std::string_view text, size_t hold) {
  if (text.size() <= hold)
    return 0;
  for (auto i = text.size() - hold; i > 0; --i)
    if (is_space(text[i - 1]))
      return i;
  if (text.size() < hold * 8)
    return 0;
  auto i = text.size() - hold;
  // Not inside a multi-byte character: continuation bytes are 10xxxxxx.
  while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80)
    --i;
  return i;
}

} // namespace

stream_filter::stream_filter(std::shared_ptr<const output_filter> filter,
                             size_t hold)
  : filter_(std::move(filter)), hold_(hold) {
}

std::string stream_filter::pass(std::string_view text) {
  auto checked = filter_->check(text);
  if (checked.blocked()) {
    withheld_ = true;
    pending_.clear();
    return "[WITHHELD:" + checked.blocked_by + "]";
  }
  return std::move(checked.text);
}

std::string stream_filter::feed(std::string_view piece) {
  if (withheld_)
    return {};
  if (!filter_)
    return std::string{piece};
  pending_ += piece;
  // Work in runs of at least `hold` bytes: one filter pass per run, not
  // per piece.
  if (pending_.size() < 2 * hold_)
    return {};
  auto cut = cut_point(pending_, hold_);
  if (cut == 0)
    return {};
  std::string_view all{pending_};
  auto whole = filter_->check(all);
  if (whole.blocked())
    return pass(all);
  std::string out;
  if (whole.matched.empty()) {
    // Nothing matches anywhere: the head leaves as it is.
    out.assign(all.substr(0, cut));
  } else {
    // A match may span the cut: cut only where the sides filtered apart
    // are the whole filtered.
    auto head = filter_->check(all.substr(0, cut));
    auto tail = filter_->check(all.substr(cut));
    if (head.blocked() || tail.blocked() ||
        head.text.size() + tail.text.size() != whole.text.size() ||
        whole.text.compare(0, head.text.size(), head.text) != 0) {
      if (pending_.size() < hold_ * 16)
        return {};
      // A match longer than the window: it leaves filtered whole.
      out = std::move(whole.text);
      pending_.clear();
      return out;
    }
    out = std::move(head.text);
  }
  pending_.erase(0, cut);
  return out;
}

std::string stream_filter::flush() {
  if (withheld_ || pending_.empty()) {
    pending_.clear();
    return {};
  }
  std::string out = filter_ ? pass(pending_) : pending_;
  pending_.clear();
  return out;
}

} // namespace troupe::guardrail
