/// bench/guardrail: the cost of the guardrail's rule sets.
///
/// - `scan`: MB/s of the input deny patterns plus the output rules over
///   1 MB of mixed text (prose, numbers, code, with an e-mail address, a
///   phone number and a card number every ~640 bytes), one core.
/// - `check_2kb`: p50/p99 latency of the same checks on a 2 KB message of
///   that text (nine matches to find, check and redact).
/// - `output_tiny`: the output rules on a 60-byte tool result (most of
///   what the agent loop checks).
/// - `scan_clean`, `check_2kb_clean`: the same on text with the personal
///   data replaced by prose (what most messages are).
///
/// Usage: guardrail [--quick]. One JSON line per scenario.

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "guardrail/input_filter.hpp"
#include "guardrail/output_filter.hpp"
#include "support/output.hpp"
#include "support/stats.hpp"
#include "support/timing.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace troupe::guardrail;
using troupe::bench::print_figure;
using troupe::bench::seconds_since;
using troupe::bench::summarize;
using troupe::bench::us_since;

/// Mixed text of `bytes` bytes; `clean` leaves out the personal data.
std::string mixed_text(size_t bytes, bool clean) {
  static constexpr std::string_view parts[] = {
    "The quarterly report shows revenue of $1,299,000 for Q3 2024. ",
    "Order ORD-2024-000123 shipped on 2024-01-15 to the Berlin office. ",
    "for (int i = 0; i < n; ++i) { total += prices[i] * 1.19; } ",
    "Please review the attached draft before Friday's meeting at 10:30. ",
    "Version 3.14.159 fixes the crash reported in ticket #4521. ",
    "Contact jane.doe@example.com or +44 20 7946 0958 for details. ",
    "The migration moved 1,024 tables and 17 TB without downtime. ",
    "Payment with card 4111 1111 1111 1111 was declined yesterday. ",
    "Our team met the targets; next steps are listed in section 4.2. ",
    "SELECT name, total FROM orders WHERE total > 100 ORDER BY total; ",
  };
  static constexpr std::string_view clean_parts[] = {
    "Contact the office or the front desk for any further details. ",
    "Payment with card ending in 42 was declined yesterday evening. ",
  };
  std::string out;
  size_t i = 0;
  while (out.size() < bytes) {
    auto part = parts[i++ % std::size(parts)];
    if (clean && part.find('@') != std::string_view::npos)
      part = clean_parts[0];
    else if (clean && part.find("card") != std::string_view::npos)
      part = clean_parts[1];
    out += part;
  }
  out.resize(bytes);
  return out;
}

} // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::string_view{argv[1]} == "--quick";
  input_filter_config icfg;
  icfg.max_input_bytes = 4 << 20;
  auto in = input_filter::make(icfg);
  auto out = output_filter::make(default_output_rules());
  if (!in || !out) {
    std::fprintf(stderr, "cannot compile the rule sets\n");
    return 1;
  }
  {
    // A tool result as the agent loop sees most of them: a few dozen bytes.
    std::string tiny = R"({"expression":"17 * 23 + 4","result":395.0,"text":"395"})";
    size_t n = quick ? 50000 : 500000;
    std::vector<double> us;
    us.reserve(n);
    size_t changed = 0;
    for (size_t i = 0; i < n; ++i) {
      auto c0 = clock_type::now();
      auto r = (*out)->check(tiny);
      us.push_back(us_since(c0));
      changed += r.text.size() != tiny.size();
    }
    auto s = summarize(std::move(us));
    print_figure("{\"scenario\":\"output_tiny\",\"bytes\":%zu,\"checks\":%zu,"
                 "\"p50_us\":%.2f,\"p99_us\":%.2f,\"changed\":%zu}\n",
                 tiny.size(), n, s.p50, s.p99, changed);
  }
  for (bool clean : {false, true}) {
    auto suffix = clean ? "_clean" : "";
    auto text = mixed_text(1 << 20, clean);
    int rounds = quick ? 3 : 10;
    // Warm up, then time whole passes over the 1 MB.
    (*in)->check(text);
    (*out)->check(text);
    auto t0 = clock_type::now();
    size_t hits = 0;
    for (int i = 0; i < rounds; ++i) {
      auto v = (*in)->check(text);
      auto r = (*out)->check(text);
      hits += r.matched.size() + (v.action == troupe::verdict_action::deny);
    }
    auto secs = seconds_since(t0) / rounds;
    print_figure("{\"scenario\":\"scan%s\",\"bytes\":%zu,\"rounds\":%d,"
                 "\"input_rules\":%zu,\"output_rules\":%zu,\"mb_per_s\":%.1f,"
                 "\"rules_hit\":%zu}\n",
                 suffix, text.size(), rounds, icfg.deny_patterns.size(),
                 default_output_rules().size(),
                 static_cast<double>(text.size()) / 1e6 / secs,
                 hits / static_cast<size_t>(rounds));
    auto msg = mixed_text(2048, clean);
    std::vector<double> us;
    size_t n = quick ? 20000 : 100000;
    us.reserve(n);
    size_t redacted = 0;
    for (size_t i = 0; i < n; ++i) {
      auto c0 = clock_type::now();
      auto v = (*in)->check(msg);
      auto r = (*out)->check(msg);
      us.push_back(us_since(c0));
      redacted += r.text.size() != msg.size() || v.action != troupe::verdict_action::allow;
    }
    auto s = summarize(std::move(us));
    print_figure("{\"scenario\":\"check_2kb%s\",\"bytes\":%zu,\"checks\":%zu,"
                 "\"p50_us\":%.2f,\"p99_us\":%.2f,\"changed\":%zu}\n",
                 suffix, msg.size(), n, s.p50, s.p99, redacted);
  }
  return 0;
}
