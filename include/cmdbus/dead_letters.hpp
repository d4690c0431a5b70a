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
// another one. A route that keeps its dead letters itself (a durable route, in its table, where every process with
// the route sees them) offers them as `route_dead_letters`; the queue shows them beside the store's and requeues or
// discards them there, from whichever process the operator uses.
//
// Contains: `dead_letter`, `dead_letter_store`, `make_memory_dead_letter_store()`, `route_dead_letters`,
// `dead_letter_queue`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  clock::time_point
      first_attempt;  ///< the epoch if it never ran (the bus stopped first); kept by a route: first failure
  clock::time_point last_attempt;  ///< kept by a route: its last failure
  std::string failed_by;           ///< the worker of its last failure, where the route knows it ("pid 41 transfers#0")
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

/// Dead letters in memory, oldest first, unbounded (they are lost with the process; a durable route keeps its own in
/// its table).
[[nodiscard]] std::shared_ptr<dead_letter_store> make_memory_dead_letter_store();

/// The dead letters one route keeps itself, where every process that has the route sees them (a durable route's
/// table): the route's commands that die go here instead of to the bus's dead_letter_store. Thread-safe.
class route_dead_letters {
 public:
  route_dead_letters() = default;
  route_dead_letters(const route_dead_letters&) = delete;
  route_dead_letters& operator=(const route_dead_letters&) = delete;
  virtual ~route_dead_letters() = default;

  /// A command of the route failed for good with nobody waiting (called on the worker thread that ran it). Throws if
  /// it cannot be kept (the command is then not settled: the route runs it again).
  virtual void put(const dead_letter& letter) = 0;
  /// Oldest first.
  [[nodiscard]] virtual std::vector<dead_letter> list() const = 0;
  [[nodiscard]] virtual std::optional<dead_letter> find(const command_id& id) const = 0;
  [[nodiscard]] virtual std::size_t size() const = 0;
  /// Pending again on the route: same id and correlation id, attempts counted afresh, its failure history kept.
  /// False if the route keeps no dead letter with that id.
  virtual bool requeue(const command_id& id) = 0;
  /// Forgets the dead letter; false if the route keeps none with that id.
  virtual bool discard(const command_id& id) = 0;
};

class bus;

/// The operator's view of a bus's dead letters: those of its dead_letter_store, then those its routes keep.
class dead_letter_queue {
 public:
  dead_letter_queue(cmdbus::bus& owner, std::shared_ptr<dead_letter_store> store);
  dead_letter_queue(const dead_letter_queue&) = delete;
  dead_letter_queue& operator=(const dead_letter_queue&) = delete;
  ~dead_letter_queue();

  /// The store's, oldest first, then each route's, oldest first.
  [[nodiscard]] std::vector<dead_letter> list() const;
  [[nodiscard]] std::optional<dead_letter> inspect(const command_id& id) const;
  [[nodiscard]] std::size_t size() const;
  /// Sends the command again on its route (same id, attempts counted afresh). False if there is no such dead letter;
  /// throws (and keeps the dead letter) if the route does not accept it now (full, stopping, its database down).
  bool requeue(const command_id& id);
  /// Forgets the dead letter; false if there is none with that id.
  bool discard(const command_id& id);

  /// For routes: a command that failed for good with nobody waiting. `then` (the status saying "dead") runs right
  /// after the store took it, before anyone can requeue it: a reader never sees the status without the letter, and a
  /// requeue never finds the letter before the status.
  void add(dead_letter_store::entry e, const std::function<void()>& then);

 private:
  friend class bus;
  /// The bus, once its routes run: the route named `route` keeps its dead letters in `kept`.
  void keep(std::string route, route_dead_letters& kept) { kept_.emplace_back(std::move(route), &kept); }
  [[nodiscard]] route_dead_letters* kept_by(std::string_view route) const noexcept;

  cmdbus::bus* bus_;
  std::shared_ptr<dead_letter_store> store_;
  std::vector<std::pair<std::string, route_dead_letters*>> kept_;  // set before the bus runs commands, then read only
  struct lock;                                                     // a mutex, in src/ (this header names no <mutex>)
  std::unique_ptr<lock> lock_;  // orders add() against the taking of a letter (requeue, discard)
};

}  // namespace cmdbus
