#pragma once

#include <optional>
#include <string_view>

#include <exception>
#include <string>

#include <caf/exit_reason.hpp>
#include <caf/local_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/response_promise.hpp>

#include "actors/protocol.hpp"
#include "core/faults.hpp"

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

/// Runs `self`'s fault injector on the message at hand. Returns nothing when
/// the message is to be handled normally (a `crash` fault has thrown by
/// then); otherwise the result to return from the handler: for `exit`, an
/// error (and the role quits with it); for `stall`, a promise that is never
/// kept, so the caller waits for its own deadline.
template <class T, class Self>
std::optional<caf::result<T>> inject_fault(Self* self, fault_injector& f) {
  // The owner may read its own mailbox: this moves what arrived into the
  // queue it reads next anyway.
  f.note_depth(self->mailbox().size());
  switch (f.tick()) {
    case fault_action::none:
      break;
    case fault_action::exit: {
      auto err = make_error(errc::role_down, "role '" + f.role() +
                                               "' quit: " + f.describe());
      self->quit(err);
      return caf::result<T>{std::move(err)};
    }
    case fault_action::stall:
      self->make_response_promise();
      return caf::result<T>{caf::delegated<T>{}};
  }
  return std::nullopt;
}

/// The name of the role whose crash `err` reports (see `answer_on_crash`);
/// empty for other errors.
inline std::string crashed_role(const caf::error& err) {
  static constexpr std::string_view prefix = "role '";
  auto msg = describe(err);
  auto i = msg.find(prefix);
  if (i == std::string::npos)
    return {};
  auto start = i + prefix.size();
  auto end = msg.find('\'', start);
  if (end == std::string::npos)
    return {};
  return msg.substr(start, end - start);
}

} // namespace troupe
