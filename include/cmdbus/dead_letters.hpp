// cmdbus/dead_letters.hpp — commands that failed on an asynchronous route with nobody waiting end here, never in
// silence: list them, inspect one, send it again, or discard it.
//
//   for (const auto& d : bus.dead_letters().list()) {
//     fmt::print("{} {} {}: {} after {} attempts\n", d.id.to_string(), d.command, d.error_type, d.error, d.attempts);
//   }
//   bus.dead_letters().requeue(id);   // back on its route, attempts counted afresh; status pending again
//   bus.dead_letters().discard(id);
//
// A command becomes a dead letter when it fails for good (a rejected or fatal error, or a transient one after the
// retry policy's last attempt) and no caller waits for its outcome (`post`, or a `send` whose handle was dropped), and
// when the bus stopped before it could run. A caller that waits (`execute`, a kept handle) receives the error instead.
// The storage sits behind `dead_letter_store`: in memory by default, `bus_builder::dead_letters(store)` plugs in
// another one.
//
// Contains: `dead_letter`, `dead_letter_store`, `make_memory_dead_letter_store()`, `dead_letter_queue`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cmdbus/context.hpp"
#include "cmdbus/detail/envelope.hpp"
#include "cmdbus/error.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus {

/// What is known about a dead letter (its payload stays inside, in the envelope).
struct dead_letter {
  command_id id;
  std::string command;  ///< wire name
  std::string route;
  std::string partition_key;
  command_id correlation_id;
  error_code code = error_code::fatal;
  std::string error_type;  ///< the exception's type, e.g. "shop::out_of_stock"
  std::string error;       ///< its message
  std::uint32_t attempts = 0;
  clock::time_point first_attempt;  ///< the epoch if it never ran (the bus stopped first)
  clock::time_point last_attempt;
};

/// Where dead letters are kept. Implementations must be thread-safe: workers add while an operator lists.
class dead_letter_store {
 public:
  struct entry {
    dead_letter letter;
    std::unique_ptr<detail::envelope> envelope;  ///< the command itself, ready to go back on its route
  };

  dead_letter_store() = default;
  dead_letter_store(const dead_letter_store&) = delete;
  dead_letter_store& operator=(const dead_letter_store&) = delete;
  virtual ~dead_letter_store() = default;

  virtual void put(entry e) = 0;
  /// Oldest first.
  [[nodiscard]] virtual std::vector<dead_letter> list() const = 0;
  [[nodiscard]] virtual std::optional<dead_letter> find(const command_id& id) const = 0;
  /// Removes and returns the entry; nullopt if there is none with that id.
  [[nodiscard]] virtual std::optional<entry> take(const command_id& id) = 0;
  [[nodiscard]] virtual std::size_t size() const = 0;
};

/// Dead letters in memory, oldest first, unbounded (they are lost with the process: durable stores come later).
[[nodiscard]] std::shared_ptr<dead_letter_store> make_memory_dead_letter_store();

class bus;

/// The operator's view of a bus's dead letters.
class dead_letter_queue {
 public:
  dead_letter_queue(cmdbus::bus& owner, std::shared_ptr<dead_letter_store> store) noexcept
      : bus_(&owner), store_(std::move(store)) {}

  [[nodiscard]] std::vector<dead_letter> list() const { return store_->list(); }
  [[nodiscard]] std::optional<dead_letter> inspect(const command_id& id) const { return store_->find(id); }
  [[nodiscard]] std::size_t size() const { return store_->size(); }
  /// Sends the command again on its route (same id, attempts counted afresh). False if there is no such dead letter;
  /// throws (and keeps the dead letter) if the route does not accept it now (full, stopping).
  bool requeue(const command_id& id);
  /// Forgets the dead letter; false if there is none with that id.
  bool discard(const command_id& id);

  /// For routes: a command that failed for good with nobody waiting. `then` (the status saying "dead") runs right
  /// after the store took it, before anyone can requeue it: a reader never sees the status without the letter, and a
  /// requeue never finds the letter before the status.
  void add(dead_letter_store::entry e, const std::function<void()>& then);

 private:
  cmdbus::bus* bus_;
  std::shared_ptr<dead_letter_store> store_;
  std::mutex mutex_;  // orders add() against the taking of a letter (requeue, discard)
};

}  // namespace cmdbus
