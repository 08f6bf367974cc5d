#include "guardrail/pattern_set.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>

namespace troupe::guardrail {

struct pattern_set::impl {
  re2::RE2::Options options;
  std::unique_ptr<re2::RE2::Set> set;
  /// Each pattern alone.
  std::vector<std::unique_ptr<re2::RE2>> each;
};

pattern_set::pattern_set() : impl_(std::make_unique<impl>()) {}

pattern_set::~pattern_set() = default;

result<std::shared_ptr<const pattern_set>>
pattern_set::compile(const std::vector<pattern>& patterns,
                     const std::string& what) {
  auto out = std::make_shared<pattern_set>();
  auto& im = *out->impl_;
  im.options.set_log_errors(false);
  // Room for the DFA's state cache: with less, a large input makes RE2
  // flush and rebuild states over and over.
  im.options.set_max_mem(int64_t{64} << 20);
  im.set = std::make_unique<re2::RE2::Set>(im.options, re2::RE2::UNANCHORED);
  for (auto& p : patterns) {
    if (p.name.empty())
      return failure{errc::invalid_config,
                     what + " pattern '" + p.regex + "' has no name"};
    auto re = std::make_unique<re2::RE2>(p.regex, im.options);
    if (!re->ok())
      return failure{errc::invalid_config, what + " pattern '" + p.name +
                                             "' does not compile: " +
                                             re->error()};
    std::string err;
    if (im.set->Add(p.regex, &err) < 0)
      return failure{errc::invalid_config,
                     what + " pattern '" + p.name + "' does not compile: " + err};
    im.each.push_back(std::move(re));
    out->names_.push_back(p.name);
  }
  if (!patterns.empty() && !im.set->Compile())
    return failure{errc::invalid_config,
                   what + " patterns are too large to compile together"};
  return std::shared_ptr<const pattern_set>{std::move(out)};
}

std::vector<int> pattern_set::matching(std::string_view text) const {
  std::vector<int> out;
  if (names_.empty())
    return out;
  impl_->set->Match(re2::StringPiece{text.data(), text.size()}, &out);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<size_t, size_t>>
pattern_set::find_all(size_t i, std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  re2::StringPiece input{text.data(), text.size()};
  re2::StringPiece match;
  auto& re = *impl_->each[i];
  size_t pos = 0;
  // Asking for the whole match only (no groups) keeps RE2 on its DFA.
  while (pos <= text.size() &&
         re.Match(input, pos, text.size(), re2::RE2::UNANCHORED, &match, 1)) {
    auto off = static_cast<size_t>(match.data() - text.data());
    out.emplace_back(off, match.size());
    // An empty match would not advance: step over one byte.
    pos = off + std::max<size_t>(match.size(), 1);
  }
  return out;
}

} // namespace troupe::guardrail
