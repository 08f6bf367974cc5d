#pragma once

#include <exception>
#include <string>

#include <caf/exit_reason.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/response_promise.hpp>

#include "actors/protocol.hpp"

namespace troupe {

/// Makes `self` answer the request it is handling with `role_down` when a
/// handler throws, then exit (its supervisor restarts it). CAF 0.17 has no
/// broken-promise error: without this, the caller of a crashed role would
/// wait for its deadline instead of degrading at once.
template <class Self>
void answer_on_crash(Self* self, std::string role) {
  self->set_exception_handler(
    [self, role](std::exception_ptr& eptr) -> caf::error {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(eptr);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      auto err =
        make_error(errc::role_down, "role '" + role + "' crashed: " + what);
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
