#pragma once

#include <caf/typed_event_based_actor.hpp>

#include "actors/protocol.hpp"

namespace troupe {

/// Spawns the offline rule-based provider: deterministic, no network, the
/// default model. It answers through the same interface as HTTP providers.
provider_actor::behavior_type rule_based_provider(provider_actor::pointer self);

} // namespace troupe
