#include "guardrail/pattern_set.hpp"

#include <hs/hs.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <limits>

namespace troupe::guardrail {

namespace {

constexpr size_t unbounded = std::numeric_limits<size_t>::max();

/// Each compiled database gets an id, so a thread's scratch space knows
/// which databases it has been sized for (ids are never reused).
std::atomic<uint64_t> next_db_id{1};

/// Hyperscan needs scratch space per thread and scan; it only ever grows,
/// so one per thread serves every database once sized for it.
struct thread_scratch {
  hs_scratch_t* scratch = nullptr;
  std::vector<uint64_t> sized_for;

  ~thread_scratch() {
    if (scratch != nullptr)
      hs_free_scratch(scratch);
  }

  hs_scratch_t* get(const hs_database_t* db, uint64_t id) {
    if (std::find(sized_for.begin(), sized_for.end(), id) == sized_for.end()) {
      if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS)
        return nullptr;
      sized_for.push_back(id);
    }
    return scratch;
  }
};

thread_local thread_scratch scratch;

struct db_deleter {
  void operator()(hs_database_t* db) const {
    hs_free_database(db);
  }
};

using db_ptr = std::unique_ptr<hs_database_t, db_deleter>;

/// Hyperscan reads bytes, RE2 reads UTF-8: `.`, negated classes and case
/// folding agree only on ASCII text, so other text is RE2's alone (the
/// fuzzer found `x.y` missing "xéy" and `(?i)é` missing "É").
bool ascii(std::string_view text) noexcept {
  for (unsigned char c : text)
    if (c >= 0x80)
      return false;
  return true;
}

} // namespace

struct pattern_set::impl {
  re2::RE2::Options options;
  /// Each pattern alone: the authority on every match.
  std::vector<std::unique_ptr<re2::RE2>> each;
  /// Longest match of each pattern (`unbounded` if none).
  std::vector<size_t> width;
  /// Patterns in the Hyperscan databases: first match of each, and every
  /// match end.
  db_ptr first;
  uint64_t first_id = 0;
  /// One database per pattern for the match ends: Hyperscan scans a
  /// handful of small ones faster than one that holds them all.
  std::vector<std::pair<db_ptr, uint64_t>> ends;
  std::vector<bool> fast;
  /// The others, together in one RE2 set (index → pattern).
  std::unique_ptr<re2::RE2::Set> slow;
  std::vector<int> slow_index;

  bool matches(size_t i, std::string_view text) const {
    return each[i]->Match(re2::StringPiece{text.data(), text.size()}, 0,
                          text.size(), re2::RE2::UNANCHORED, nullptr, 0);
  }

  /// The next match of pattern `i` starting at or after `from` and before
  /// `to` (RE2 sees the whole text for \b and ^).
  bool next(size_t i, std::string_view text, size_t from, size_t to,
            span& out) const {
    re2::StringPiece input{text.data(), text.size()};
    re2::StringPiece m;
    // Asking for the whole match only (no groups) keeps RE2 on its DFA.
    if (!each[i]->Match(input, from, to, re2::RE2::UNANCHORED, &m, 1))
      return false;
    out = {static_cast<size_t>(m.data() - text.data()), m.size()};
    return true;
  }

  /// Every match of pattern `i` from RE2 alone.
  void scan_all(size_t i, std::string_view text, std::vector<span>& out) const {
    size_t pos = 0;
    span m;
    while (pos <= text.size() && next(i, text, pos, text.size(), m)) {
      out.push_back(m);
      // An empty match would not advance: step over one byte.
      pos = m.first + std::max<size_t>(m.second, 1);
    }
  }
};

pattern_set::pattern_set() : impl_(std::make_unique<impl>()) {}

pattern_set::~pattern_set() = default;

size_t pattern_set::accelerated() const {
  return static_cast<size_t>(
    std::count(impl_->fast.begin(), impl_->fast.end(), true));
}

result<std::shared_ptr<const pattern_set>>
pattern_set::compile(const std::vector<pattern>& patterns,
                     const std::string& what) {
  auto out = std::make_shared<pattern_set>();
  auto& im = *out->impl_;
  im.options.set_log_errors(false);
  // Room for the DFA's state cache: with less, a large input makes RE2
  // flush and rebuild states over and over.
  im.options.set_max_mem(int64_t{64} << 20);
  std::vector<const char*> exprs;
  std::vector<unsigned> ids;
  for (auto& p : patterns) {
    if (p.name.empty())
      return failure{errc::invalid_config,
                     what + " pattern '" + p.regex + "' has no name"};
    auto re = std::make_unique<re2::RE2>(p.regex, im.options);
    if (!re->ok())
      return failure{errc::invalid_config, what + " pattern '" + p.name +
                                             "' does not compile: " +
                                             re->error()};
    auto index = im.each.size();
    im.each.push_back(std::move(re));
    out->names_.push_back(p.name);
    // Hyperscan takes what it can: no empty matches, its own syntax (the
    // common subset of RE2's). Bytes, not UTF-8: it must not choke on
    // invalid UTF-8, and every default pattern is ASCII.
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* err = nullptr;
    // Hyperscan takes C strings: a pattern with a NUL would be cut there
    // (`abc\0|evil` read as `abc`, letting "evil" through), so RE2 has it.
    bool ok = p.regex.find('\0') == std::string::npos &&
              hs_expression_info(p.regex.c_str(), 0, &info, &err) ==
                HS_SUCCESS &&
              info->min_width > 0;
    im.width.push_back(ok && info->max_width != UINT_MAX ? info->max_width
                                                         : unbounded);
    if (err != nullptr)
      hs_free_compile_error(err);
    std::free(info);
    im.fast.push_back(ok);
    if (ok) {
      exprs.push_back(p.regex.c_str());
      ids.push_back(static_cast<unsigned>(index));
    }
  }
  auto build = [](const char* const* ex, const unsigned* id_list, size_t n,
                  unsigned flag, db_ptr& db, uint64_t& id) {
    std::vector<unsigned> flags(n, flag);
    hs_database_t* raw = nullptr;
    hs_compile_error_t* err = nullptr;
    if (hs_compile_multi(ex, flags.data(), id_list, static_cast<unsigned>(n),
                         HS_MODE_BLOCK, nullptr, &raw, &err) != HS_SUCCESS) {
      hs_free_compile_error(err);
      return false;
    }
    db.reset(raw);
    id = next_db_id.fetch_add(1);
    return true;
  };
  bool built = exprs.empty() || build(exprs.data(), ids.data(), exprs.size(),
                                     HS_FLAG_SINGLEMATCH, im.first,
                                     im.first_id);
  for (size_t i = 0; built && i < exprs.size(); ++i) {
    im.ends.emplace_back();
    built = build(&exprs[i], &ids[i], 1, 0, im.ends.back().first,
                  im.ends.back().second);
  }
  if (!built) {
    // Together they are too much for Hyperscan: RE2 takes them all.
    im.first.reset();
    im.ends.clear();
    std::fill(im.fast.begin(), im.fast.end(), false);
  }
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (im.fast[i])
      continue;
    if (!im.slow)
      im.slow =
        std::make_unique<re2::RE2::Set>(im.options, re2::RE2::UNANCHORED);
    std::string err;
    if (im.slow->Add(patterns[i].regex, &err) < 0)
      return failure{errc::invalid_config, what + " pattern '" +
                                             patterns[i].name +
                                             "' does not compile: " + err};
    im.slow_index.push_back(static_cast<int>(i));
  }
  if (im.slow && !im.slow->Compile())
    return failure{errc::invalid_config,
                   what + " patterns are too large to compile together"};
  return std::shared_ptr<const pattern_set>{std::move(out)};
}

std::vector<int> pattern_set::matching(std::string_view text) const {
  std::vector<int> out;
  auto& im = *impl_;
  if (im.first) {
    std::vector<int> hits;
    auto on_match = [](unsigned id, unsigned long long, unsigned long long,
                       unsigned, void* ctx) -> int {
      static_cast<std::vector<int>*>(ctx)->push_back(static_cast<int>(id));
      return 0;
    };
    auto* s = text.size() <= UINT_MAX
                ? scratch.get(im.first.get(), im.first_id)
                : nullptr;
    bool scanned = s != nullptr && ascii(text) &&
                   hs_scan(im.first.get(), text.data(),
                           static_cast<unsigned>(text.size()), 0, s, on_match,
                           &hits) == HS_SUCCESS;
    // Hits are rare and RE2 has the last word on them. Without a scan (a
    // text over 4 GB, or no scratch memory) RE2 answers alone.
    for (size_t i = 0; i < im.each.size(); ++i)
      if (im.fast[i] && (!scanned || std::find(hits.begin(), hits.end(),
                                              static_cast<int>(i)) != hits.end()))
        if (im.matches(i, text))
          out.push_back(static_cast<int>(i));
  }
  if (im.slow) {
    std::vector<int> hits;
    im.slow->Match(re2::StringPiece{text.data(), text.size()}, &hits);
    for (auto h : hits)
      out.push_back(im.slow_index[static_cast<size_t>(h)]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::vector<span>>
pattern_set::find_all(std::string_view text) const {
  auto& im = *impl_;
  std::vector<std::vector<span>> out(im.each.size());
  // Where the Hyperscan pass reports a match end, RE2 finds the match on a
  // window that ends there, resuming per pattern after its last match.
  struct state {
    const impl* im;
    std::string_view text;
    std::vector<std::vector<span>>* out;
    std::vector<size_t> pos;
  } st{&im, text, &out, std::vector<size_t>(im.each.size(), 0)};
  auto on_end = [](unsigned id, unsigned long long, unsigned long long to,
                   unsigned, void* ctx) -> int {
    auto& s = *static_cast<state*>(ctx);
    auto e = static_cast<size_t>(to);
    auto& pos = s.pos[id];
    auto n = s.text.size();
    if (e <= pos || pos > n)
      return 0;
    auto w = s.im->width[id];
    span m;
    if (w != unbounded) {
      // A match ending at e starts within w bytes before it. The leftmost
      // match from there is that one or one before it, if it starts by e;
      // one that starts later belongs to a later end (and may run past
      // this window), so it waits for that.
      auto from = e > pos + w ? e - w : pos;
      if (!s.im->next(id, s.text, from, std::min(n, e + w), m) || m.first > e)
        return 0;
    } else if (!s.im->next(id, s.text, pos, n, m)) {
      // No bound on where the match begins: RE2 looks from its last
      // match on, so it reads each byte once at most.
      pos = n + 1; // nothing more from RE2's view
      return 0;
    }
    (*s.out)[id].push_back(m);
    pos = m.first + std::max<size_t>(m.second, 1);
    return 0;
  };
  bool scanned =
    !im.ends.empty() && text.size() <= UINT_MAX && ascii(text);
  for (auto& [db, id] : im.ends) {
    auto* s = scanned ? scratch.get(db.get(), id) : nullptr;
    scanned = s != nullptr &&
              hs_scan(db.get(), text.data(), static_cast<unsigned>(text.size()),
                      0, s, on_end, &st) == HS_SUCCESS;
  }
  for (size_t i = 0; i < im.each.size(); ++i) {
    if (im.fast[i] && scanned)
      continue;
    out[i].clear();
    im.scan_all(i, text, out[i]);
  }
  return out;
}

} // namespace troupe::guardrail
