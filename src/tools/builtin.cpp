#include "tools/builtin.hpp"

#include "tools/calculator.hpp"

namespace troupe::tools {

result<bool> validate(const builtin_config& cfg) {
  auto named = [](const char* part, result<bool> ok) -> result<bool> {
    if (ok)
      return ok;
    return failure{ok.error().code,
                   std::string{part} + ": " + ok.error().message};
  };
  if (auto ok = named("files", validate(cfg.files)); !ok)
    return ok;
  if (auto ok = named("http_get", validate(cfg.http_get)); !ok)
    return ok;
  return named("shell", validate(cfg.shell));
}

std::vector<entry> builtin_tools(const builtin_config& cfg) {
  std::vector<entry> out;
  out.push_back(calculator_tool());
  for (auto& e : file_tools(cfg.files))
    out.push_back(std::move(e));
  out.push_back(http_get_tool(cfg.http_get));
  out.push_back(shell_tool(cfg.shell));
  return out;
}

} // namespace troupe::tools
