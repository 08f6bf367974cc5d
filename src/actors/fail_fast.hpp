#pragma once

#include <exception>
#include <string>

#include <caf/exit_reason.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/response_promise.hpp>

#include "actors/protocol.hpp"

namespace troupe {

/// The message of the exception in `eptr` ("unknown exception" if it is
/// not a std::exception).
inline std::string describe_exception(const std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "unknown exception";
}

/// Makes `self` answer the request it is handling with `role_down` when a
/// handler throws, then exit (its supervisor restarts it). CAF 0.17 has no
/// broken-promise error: without this, the caller of a crashed role would
/// wait for its deadline instead of degrading at once.
template <class Self>
void answer_on_crash(Self* self, std::string role) {
  self->set_exception_handler(
    [self, role](std::exception_ptr& eptr) -> caf::error {
      auto err =
        make_error(errc::role_down,
                   "role '" + role + "' crashed: " + describe_exception(eptr));
      auto current = self->current_mailbox_element();
      if (current != nullptr && current->mid.is_request() &&
          !current->mid.is_answered()) {
        auto rp = self->make_response_promise();
        rp.deliver(err);
      }
      return err;
    });
}

} // namespace troupe
