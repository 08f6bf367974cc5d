#include "agents/catalog.hpp"

#include <fstream>
#include <sstream>

#include "core/names.hpp"

namespace troupe::agents {

namespace {

/// Largest instructions file: a system prompt, not a book.
constexpr std::streamoff max_instructions_bytes = 1 << 20;

result<std::string> read_instructions(const std::filesystem::path& file,
                                      const std::string& key) {
  std::ifstream in{file, std::ios::binary};
  if (!in)
    return config_error(key + ".instructions_file: cannot read '" +
                        file.string() + "'");
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::streamoff>(in.tellg());
  if (size > max_instructions_bytes)
    return config_error(key + ".instructions_file: '" + file.string() +
                        "' is larger than 1 MiB");
  in.seekg(0);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

result<std::shared_ptr<const agent>>
resolve(const std::string& name, const agent_config& cfg,
        const engine_defaults& defaults, const chain_fn& chain_of) {
  auto key = "agents." + name;
  auto out = std::make_shared<agent>();
  out->name = name;
  out->description = cfg.description;
  out->instructions = cfg.instructions;
  if (!cfg.instructions_file.empty()) {
    auto text = read_instructions(cfg.instructions_file, key);
    if (!text)
      return text.error();
    out->instructions = std::move(*text);
  }
  out->model = cfg.model;
  out->tools = cfg.tools;
  out->memory = cfg.memory.enabled;
  if (!out->memory) {
    out->tools.push_back("!memory_store");
    out->tools.push_back("!memory_recall");
  }
  out->all_tools = out->tools.size() == 1 && out->tools[0] == "*";
  out->max_steps = cfg.max_steps > 0 ? cfg.max_steps : defaults.max_steps;
  out->max_tokens = cfg.max_tokens > 0 ? cfg.max_tokens : defaults.max_tokens;
  out->timeout = cfg.timeout.count() > 0 ? cfg.timeout : defaults.timeout;
  out->memory_ns = cfg.memory.ns.empty() ? name : cfg.memory.ns;
  out->recall_limit = !out->memory ? 0
                      : cfg.memory.recall_limit >= 0
                        ? static_cast<uint32_t>(cfg.memory.recall_limit)
                        : defaults.recall_limit;
  out->history_tokens = cfg.history_tokens;
  out->summarize_history = cfg.summarize_history;
  auto output = compile_output_schema(cfg, key);
  if (!output)
    return output.error();
  out->output_schema = cfg.output_schema;
  out->output = std::move(*output);
  auto chain = chain_of(cfg.provider);
  if (!chain)
    return config_error(key + ".provider: provider '" + cfg.provider +
                        "' was not configured when the engine started; "
                        "restart to add a provider");
  out->chain = std::move(*chain);
  return std::shared_ptr<const agent>{std::move(out)};
}

} // namespace

std::shared_ptr<const agent> catalog::find(std::string_view name) const {
  auto i = agents_.find(name);
  return i == agents_.end() ? nullptr : i->second;
}

std::string catalog::names() const {
  std::string out;
  for (auto& [name, a] : agents_)
    out += (out.empty() ? "" : ", ") + name;
  return out;
}

result<std::shared_ptr<const catalog>>
catalog::build(const std::map<std::string, agent_config>& configured,
               const engine_defaults& defaults, const chain_fn& chain_of) {
  auto out = std::make_shared<catalog>();
  for (auto& [name, cfg] : configured) {
    if (!valid_name(name))
      return config_error("agents." + name +
                          ": an agent's name must be 1-64 characters of "
                          "A-Z a-z 0-9 _ . -");
    auto a = resolve(name, cfg, defaults, chain_of);
    if (!a)
      return a.error();
    out->agents_.emplace(name, std::move(*a));
  }
  std::string def{default_agent};
  if (!out->agents_.count(def)) {
    auto a = resolve(def, agent_config{}, defaults, chain_of);
    if (!a)
      return a.error();
    out->agents_.emplace(def, std::move(*a));
  }
  return std::shared_ptr<const catalog>{std::move(out)};
}

std::string unknown_agent(std::string_view name, const catalog& known) {
  return "unknown agent '" + std::string{name} + "' (agents: " +
         known.names() + ")";
}

} // namespace troupe::agents
