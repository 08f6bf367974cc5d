#include "memory/short_term.hpp"

#include <algorithm>
#include <array>

namespace troupe::memory {

namespace {

// Words too common to say what an entry is about. Sorted for binary_search.
constexpr std::array<std::string_view, 58> stopwords{
  "a",     "about", "all",  "am",   "an",  "and",  "any",   "are",  "as",
  "at",    "be",    "been", "but",  "by",  "can",  "could", "did",  "do",
  "does",  "for",   "from", "had",  "has", "have", "he",    "her",  "his",
  "i",     "if",    "in",   "into", "is",  "it",   "its",   "know", "me",
  "my",    "of",    "on",   "or",   "she", "so",   "that",  "the",  "their",
  "them",  "there", "they", "this", "to",  "was",  "we",    "were", "what",
  "which", "with",  "you",  "your"};

bool is_word_byte(unsigned char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c >= 0x80;
}

bool is_stopword(std::string_view w) {
  return std::binary_search(stopwords.begin(), stopwords.end(), w);
}

} // namespace

std::vector<std::string> keywords(std::string_view text) {
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    if (!word.empty() && !is_stopword(word))
      out.push_back(word);
    word.clear();
  };
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (!is_word_byte(c)) {
      flush();
      continue;
    }
    word += c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : ch;
  }
  flush();
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

short_term_store::short_term_store(size_t capacity_per_session,
                                   size_t max_sessions)
  : capacity_(std::max<size_t>(capacity_per_session, 1)),
    max_sessions_(std::max<size_t>(max_sessions, 1)) {}

short_term_store::session_data&
short_term_store::touch_session(std::string_view session) {
  if (auto i = sessions_.find(session); i != sessions_.end()) {
    session_lru_.splice(session_lru_.begin(), session_lru_, i->second.lru_pos);
    return i->second;
  }
  if (sessions_.size() >= max_sessions_) {
    sessions_.erase(session_lru_.back());
    session_lru_.pop_back();
  }
  session_lru_.emplace_front(session);
  auto& data = sessions_[std::string{session}];
  data.lru_pos = session_lru_.begin();
  return data;
}

uint64_t short_term_store::store(std::string_view session,
                                 std::string_view text) {
  auto& data = touch_session(session);
  if (auto i = data.by_text.find(text); i != data.by_text.end()) {
    auto pos = i->second;
    pos->stored_at = ++clock_;
    data.entries.splice(data.entries.begin(), data.entries, pos);
    return pos->id;
  }
  if (data.entries.size() >= capacity_) {
    data.by_text.erase(data.entries.back().text);
    data.entries.pop_back();
  }
  auto id = next_id_++;
  data.entries.push_front(
    entry{id, ++clock_, std::string{text}, keywords(text)});
  data.by_text.emplace(data.entries.front().text, data.entries.begin());
  return id;
}

std::vector<memory_hit> short_term_store::recall(std::string_view session,
                                                 std::string_view query,
                                                 size_t limit) {
  std::vector<memory_hit> out;
  auto i = sessions_.find(session);
  if (i == sessions_.end() || limit == 0)
    return out;
  auto& data = touch_session(session);
  auto wanted = keywords(query);
  struct candidate {
    entry_list::iterator pos;
    double score;
  };
  std::vector<candidate> found;
  for (auto pos = data.entries.begin(); pos != data.entries.end(); ++pos) {
    if (wanted.empty()) {
      found.push_back({pos, 0.0});
      continue;
    }
    size_t matched = 0;
    for (auto& w : wanted)
      if (std::binary_search(pos->keywords.begin(), pos->keywords.end(), w))
        ++matched;
    if (matched > 0)
      found.push_back({pos, static_cast<double>(matched) /
                              static_cast<double>(wanted.size())});
  }
  auto n = std::min(limit, found.size());
  std::partial_sort(found.begin(),
                    found.begin() + static_cast<std::ptrdiff_t>(n), found.end(),
                    [](const candidate& x, const candidate& y) {
                      if (x.score != y.score)
                        return x.score > y.score;
                      return x.pos->stored_at > y.pos->stored_at;
                    });
  found.resize(n);
  out.reserve(n);
  for (auto& c : found)
    out.push_back(memory_hit{c.pos->id, c.pos->text, c.score});
  // Mark the hits used, best last so the best hit ends up most recent.
  for (auto c = found.rbegin(); c != found.rend(); ++c)
    data.entries.splice(data.entries.begin(), data.entries, c->pos);
  return out;
}

size_t short_term_store::size(std::string_view session) const {
  auto i = sessions_.find(session);
  return i == sessions_.end() ? 0 : i->second.entries.size();
}

size_t short_term_store::sessions() const noexcept {
  return sessions_.size();
}

} // namespace troupe::memory
