#include "core/faults.hpp"

namespace troupe {

const char* to_string(fault_mode x) noexcept {
  switch (x) {
    case fault_mode::crash:
      return "crash";
    case fault_mode::exit:
      return "exit";
    case fault_mode::stall:
      return "stall";
  }
  return "unknown";
}

bool from_string(const std::string& name, fault_mode& out) noexcept {
  for (auto x : {fault_mode::crash, fault_mode::exit, fault_mode::stall})
    if (name == to_string(x)) {
      out = x;
      return true;
    }
  return false;
}

} // namespace troupe
