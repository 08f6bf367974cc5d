// The config readers: apply_json (the JSONC config file) and
// apply_environment (TROUPE_* variables), each followed by validate() on
// success, as `load_file` and the command line run them. The first byte
// picks what the rest is: a config file, NAME=VALUE lines, or a file, a
// line "---" and then variables applied over it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "support.hpp"

using namespace troupe;

namespace {

/// apply_environment tries every way to group a name's words into key
/// parts (2^(words-1) of them); real keys have a few words. Longer names
/// are left out so one input stays fast (fuzz/README.md).
constexpr size_t max_name_words = 8;

/// NAME=VALUE lines as an environment; names get the TROUPE_ prefix if
/// they lack it, so they reach the config keys.
std::map<std::string, std::string> environment(std::string_view text) {
  std::map<std::string, std::string> env;
  for (auto line : fuzz::lines(text)) {
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      continue;
    std::string name{line.substr(0, eq)};
    if (name.rfind("TROUPE_", 0) != 0)
      name = "TROUPE_" + name;
    size_t words = 1;
    for (char c : name)
      words += c == '_';
    if (words - 1 > max_name_words)
      continue;
    env[name] = std::string{line.substr(eq + 1)};
  }
  return env;
}

void check(const result<engine_config>& cfg) {
  if (!cfg) {
    if (cfg.error().message.empty())
      fuzz::broken("a config error without a message");
    return;
  }
  auto ok = validate(*cfg);
  if (!ok && ok.error().message.empty())
    fuzz::broken("a validation error without a message");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::reader in{data, size};
  auto mode = in.byte() % 3;
  auto text = in.rest();
  if (mode == 0) {
    check(apply_json(engine_config{}, text));
  } else if (mode == 1) {
    check(apply_environment(engine_config{}, environment(text)));
  } else {
    auto cut = text.find("\n---\n");
    auto file = text.substr(0, cut);
    auto vars =
      cut == std::string_view::npos ? std::string_view{} : text.substr(cut + 5);
    auto cfg = apply_json(engine_config{}, file);
    check(cfg);
    if (cfg)
      check(apply_environment(std::move(*cfg), environment(vars)));
  }
  return 0;
}
