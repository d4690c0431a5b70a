// cmdbus/consistency.hpp — read your own writes across an asynchronous route: a token from the command, a query that
// waits for it.
//
//   auto h = bus.send(PlaceOrder{...});                          // or: auto id = bus.post(PlaceOrder{...});
//   auto order = bus.query(GetOrder{42}, cmdbus::at_least(h.token()));   // or: cmdbus::at_least(id)
//
// A token names the command whose effects the reader wants to see and, once that command has committed, the store it
// committed to and the store's read-model version after the commit (each committed unit of work advances it by one).
// A query given `at_least(token)` first waits (bounded) until the command has settled on its route, then until the
// store's read model has reached the version. A command that failed or was never asynchronous has nothing to wait for.
//
// Contains: `consistency_token`.
#pragma once

#include <cstdint>

#include "cmdbus/id.hpp"

namespace cmdbus {

struct consistency_token {
  command_id command{};         ///< the command to wait for; nil: only the version counts
  const void* store = nullptr;  ///< the store it committed to (its identity), once known
  std::uint64_t version = 0;    ///< that store's read-model version right after the commit; 0: unknown yet

  [[nodiscard]] bool empty() const noexcept { return command.is_nil() && store == nullptr; }
};

}  // namespace cmdbus
