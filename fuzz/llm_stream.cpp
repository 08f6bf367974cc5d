// A model's streamed answer as the HTTP provider reads it: the bytes go
// through llm::sse_parser in chunks (cut where the input says), each event
// into llm::stream_assembler, and finish() at the end of the stream. The
// events must not depend on where the chunks were cut.
//
// Input: a byte of flags (bit 0: Anthropic, else OpenAI; bit 1: a small
// event bound), a byte n, n chunk sizes (cycled), then the stream.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "llm/sse.hpp"
#include "llm/wire.hpp"
#include "support.hpp"

using namespace troupe;

namespace {

struct parsed {
  bool ok = true;
  bool pending = false;
  std::vector<llm::sse_event> events;
};

parsed feed(std::string_view stream, const std::vector<size_t>& cuts,
            size_t bound) {
  llm::sse_parser p{bound};
  parsed out;
  size_t at = 0;
  for (size_t i = 0; at < stream.size(); ++i) {
    auto n = cuts.empty() ? stream.size() : cuts[i % cuts.size()];
    if (!p.feed(stream.substr(at, n), out.events)) {
      out.ok = false;
      return out;
    }
    at += n;
  }
  out.pending = p.pending();
  return out;
}

bool same(const parsed& x, const parsed& y) {
  if (x.ok != y.ok || x.pending != y.pending ||
      x.events.size() != y.events.size())
    return false;
  for (size_t i = 0; i < x.events.size(); ++i)
    if (x.events[i].event != y.events[i].event ||
        x.events[i].data != y.events[i].data)
      return false;
  return true;
}

/// The events into an assembler, as the provider's chunk callback does:
/// the first failure ends the stream.
void assemble(llm::wire_format f, const std::vector<llm::sse_event>& events) {
  llm::stream_assembler a{f};
  for (auto& e : events)
    if (!a.on_event(e))
      return;
  auto r = a.finish();
  if (!r) {
    if (r.error().code != errc::provider_failed)
      fuzz::broken("a broken stream failed with a code other than "
                   "provider_failed");
    return;
  }
  if (!a.done())
    fuzz::broken("finish() succeeded on a stream that never completed");
  for (auto& c : r->tool_calls) {
    if (c.name.empty())
      fuzz::broken("an assembled tool call without a name");
    if (!parse_object(c.arguments, "arguments"))
      fuzz::broken("assembled tool call arguments that are not an object");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::reader in{data, size};
  auto flags = in.byte();
  auto format =
    (flags & 1) ? llm::wire_format::anthropic : llm::wire_format::openai;
  size_t bound = (flags & 2) ? 256 : size_t{8} << 20;
  std::vector<size_t> cuts;
  for (auto n = in.byte() % 9; n > 0; --n)
    cuts.push_back(1 + in.byte());
  auto stream = in.rest();
  auto chunked = feed(stream, cuts, bound);
  auto whole = feed(stream, {}, bound);
  if (!same(chunked, whole))
    fuzz::broken("the events depend on where the stream was cut");
  // A stream the parser refused is failed as it is: nothing to assemble.
  if (chunked.ok)
    assemble(format, chunked.events);
  return 0;
}
