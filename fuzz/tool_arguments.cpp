// A model's tool call before anything runs: tools::registry::prepare (the
// tool looked up, the arguments parsed and checked against its JSON
// Schema) on the registry the engine builds (make_tool_registry: the
// built-in tools, over a workspace in a temp dir, and the memory tools,
// listed only). The first byte picks the tool among the registered ones
// (and one unknown name), the rest is the arguments. No tool runs.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "actors/engine.hpp"
#include "core/json.hpp"
#include "core/log.hpp"
#include "memory/tools.hpp"
#include "support.hpp"

using namespace troupe;

namespace {

tools::registry* reg = nullptr;
std::vector<std::string> names;

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level("off");
  engine_settings cfg;
  cfg.workspace = fuzz::temp_dir() / "workspace";
  std::filesystem::create_directories(cfg.workspace);
  auto built = make_tool_registry(cfg, {});
  if (!built) {
    std::fprintf(stderr, "fuzz: %s\n", built.error().message.c_str());
    std::abort();
  }
  reg = new tools::registry{std::move(*built)};
  // As setup_tools lists them: served by the memory role, checked here.
  for (auto& spec : memory::tool_specs()) {
    tools::entry e;
    e.spec = std::move(spec);
    if (!reg->add(std::move(e)))
      std::abort();
  }
  reg->seal();
  for (auto& [name, e] : reg->entries())
    names.push_back(name);
  names.push_back("no_such_tool");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::reader in{data, size};
  auto& name = names[in.byte() % names.size()];
  tool_call call{"call_1", name, std::string{in.rest()}};
  auto prepared = reg->prepare(call);
  bool known = reg->find(name) != nullptr;
  if (!prepared) {
    auto code = prepared.error().code;
    if (code != (known ? errc::invalid_arguments : errc::unknown_tool))
      fuzz::broken("prepare failed with the wrong code");
    return 0;
  }
  if (!known || prepared->tool != reg->find(name))
    fuzz::broken("prepare matched the call to another tool");
  if (!prepared->args.is_object())
    fuzz::broken("prepared arguments that are not an object");
  // Arguments that passed pass again as the engine forwards them (dumped).
  call.arguments = dump(prepared->args);
  auto again = reg->prepare(call);
  if (!again || again->args != prepared->args)
    fuzz::broken("prepared arguments do not prepare again the same");
  return 0;
}
