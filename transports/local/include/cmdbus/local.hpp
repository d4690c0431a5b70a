// cmdbus/local.hpp — the `local` route kind (target cmdbus::local): in-process worker threads behind bounded queues.
//
//   [routes.transfers]          # in the routing file
//   kind = "local"
//   workers = 4                 # threads (1..256, default 2)
//   capacity = 10000            # commands queued or running at most (default 1024)
//   full = "reject"             # or "block" (default): wait up to block_timeout_ms (default 1000) for a place
//   execute_timeout_ms = 30000  # how long execute() waits for an outcome without a deadline
//
// Linking cmdbus::local (cmdbus::cmdbus does) registers the kind for every bus; a program that links only
// cmdbus::core and the local target as a plain library registers it itself: `b.route_kind(cmdbus::local::kind())`.
// What happens to a command on such a route: docs/async.md.
//
// Contains: `local::kind()`.
#pragma once

#include <memory>

#include "cmdbus/route_kind.hpp"

namespace cmdbus::local {

/// The `local` route kind.
[[nodiscard]] std::shared_ptr<route_kind> kind();

}  // namespace cmdbus::local
