// cmdbus/command_status.hpp — where a command sent to an asynchronous route is: pending, running, or how it ended.
//
//   auto id = bus.post(Transfer{...});
//   if (auto s = bus.status(id)) {
//     fmt::print("{} after {} attempt(s)\n", cmdbus::to_string(s->status), s->attempts);
//   }
//
// The bus tracks every command accepted by an asynchronous route from acceptance until it ends, then keeps the
// outcome of the most recent ones (bus_builder::status_retention, 10 000 by default per worker) and forgets older ones
// (status() then returns nullopt). A sync command is finished when its call returns, so it is not tracked.
//
// Contains: `command_status`, `command_state`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cmdbus/consistency.hpp"
#include "cmdbus/context.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus {

enum class command_status : unsigned char {
  pending,    ///< accepted, waiting in the queue (or waiting to be retried)
  running,    ///< a worker is running it
  succeeded,  ///< committed; the caller (if any) has the result
  failed,     ///< ended with an error that a waiting caller received
  dead,       ///< ended with an error nobody was waiting for: it is in the dead letters
};

[[nodiscard]] std::string_view to_string(command_status s) noexcept;

/// A snapshot of one command's status.
struct command_state {
  command_id id;
  std::string command;  ///< wire name
  std::string route;
  command_status status = command_status::pending;
  std::uint32_t attempts = 0;  ///< attempts started so far
  std::string error;           ///< the last error's message (a retried transient one, or the final one)
  consistency_token token;     ///< once succeeded: the store and read-model version its commit reached
  clock::time_point accepted;
  clock::time_point updated;

  [[nodiscard]] bool settled() const noexcept {
    return status == command_status::succeeded || status == command_status::failed || status == command_status::dead;
  }
};

}  // namespace cmdbus
