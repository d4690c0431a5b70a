// Internal (cmdbus::durable): the table's `state` text read back into statuses, the same for every database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cmdbus/command_status.hpp"
#include "cmdbus/wire/envelope.hpp"
#include "queue.hpp"

namespace cmdbus::durable::detail {

/// The status a row's `state` names (the names are command_status's own), or nullopt for a foreign word.
[[nodiscard]] inline std::optional<command_status> status_named(std::string_view s) noexcept {
  for (const auto st : {command_status::pending, command_status::running, command_status::succeeded,
                        command_status::failed, command_status::dead}) {
    if (to_string(st) == s) {
      return st;
    }
  }
  return std::nullopt;
}

/// A row's columns as bus.status() tells them.
[[nodiscard]] inline command_state state_of(const command_id& id, std::string command, std::string route,
                                            std::string_view state, std::uint32_t attempts, std::string error,
                                            std::int64_t created_us, std::int64_t updated_us) {
  command_state s;
  s.id = id;
  s.command = std::move(command);
  s.route = std::move(route);
  s.status = status_named(state).value_or(command_status::pending);
  s.attempts = attempts;
  s.error = std::move(error);
  s.token = consistency_token{id};
  s.accepted = wire::from_micros(created_us);
  s.updated = wire::from_micros(updated_us);
  return s;
}

/// Adds `k` rows in `state` (pending ones not due yet when `later`) to `n`.
inline void add_count(counts& n, std::string_view state, bool later, std::uint64_t k) noexcept {
  const auto st = status_named(state);
  if (st == command_status::pending) {
    (later ? n.waiting_retry : n.pending) += k;
  } else if (st == command_status::running) {
    n.running += k;
  } else if (st == command_status::succeeded) {
    n.succeeded += k;
  } else if (st == command_status::failed) {
    n.failed += k;
  } else if (st == command_status::dead) {
    n.dead += k;
  }
}

}  // namespace cmdbus::durable::detail
