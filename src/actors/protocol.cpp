#include "actors/protocol.hpp"

#include <caf/sec.hpp>

namespace troupe {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::troupe>();
  // CAF 0.17.6's add_error_category<T> does not compile (its lambda has the
  // old renderer signature), so the renderer is spelled out.
  cfg.add_error_category(
    error_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      std::string out = "troupe::";
      out += to_string(static_cast<errc>(code));
      if (ctx.match_elements<std::string>()) {
        out += ": ";
        out += ctx.get_as<std::string>(0);
      }
      return out;
    });
}

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(message))};
}

errc code_of(const caf::error& err) {
  if (err.category() == error_category)
    return static_cast<errc>(err.code());
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return errc::timeout;
      case caf::sec::request_receiver_down:
      case caf::sec::no_route_to_receiving_node:
      case caf::sec::cannot_forward_to_invalid_actor:
      case caf::sec::cannot_connect_to_node:
        return errc::role_down;
      default:
        break;
    }
  }
  return errc::unspecified;
}

std::string describe(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == error_category) {
    auto& ctx = err.context();
    if (ctx.match_elements<std::string>())
      return ctx.get_as<std::string>(0);
    return std::string{to_string(static_cast<errc>(err.code()))};
  }
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return "no answer before the deadline";
      case caf::sec::request_receiver_down:
        return "the receiving role is down";
      case caf::sec::no_route_to_receiving_node:
        return "the node of the receiving role is unreachable";
      default:
        break;
    }
  }
  return to_string(err);
}

} // namespace troupe
