#include "llm/sse.hpp"

namespace troupe::llm {

result<bool> sse_parser::feed(std::string_view chunk,
                              std::vector<sse_event>& out) {
  for (char c : chunk) {
    if (after_cr_) {
      after_cr_ = false;
      if (c == '\n')
        continue;
    }
    if (c == '\r' || c == '\n') {
      after_cr_ = c == '\r';
      line(line_, out);
      line_.clear();
      continue;
    }
    line_ += c;
    if (line_.size() + data_.size() > max_bytes_)
      return failure{errc::provider_failed,
                     "the model's event stream sent an event larger than " +
                       std::to_string(max_bytes_) + " bytes"};
  }
  return true;
}

void sse_parser::line(std::string_view l, std::vector<sse_event>& out) {
  if (l.empty()) {
    // Dispatch: an event without data is dropped (per the spec).
    if (has_data_)
      out.push_back({std::move(event_), std::move(data_)});
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (l.front() == ':')
    return; // comment (keep-alive)
  auto colon = l.find(':');
  auto field = l.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_)
      data_ += '\n';
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_ = std::string{value};
  }
  // id and retry do not matter to a one-shot model call.
}

} // namespace troupe::llm
