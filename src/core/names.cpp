#include "core/names.hpp"

namespace troupe {

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS"
                                "TUVWXYZ0123456789_.-") ==
           std::string_view::npos;
}

} // namespace troupe
