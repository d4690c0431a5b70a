// cmdbus/unit_of_work.hpp — the transaction around a command, as the core sees it (stores supply the real one).
//
// A store's unit-of-work middleware opens a transaction, attaches it to the context, runs the handler and the
// projections inside it, commits, and only then lets after-commit subscribers see the command's events. A command
// dispatched from inside a handler joins the open unit of work (a store makes that a savepoint). A route's worker may
// run several commands in one (transaction_middleware::batch): each joins it under a savepoint of its own.
//
//   b.use(store.unit_of_work());                                   // cmdbus::sqlite / cmdbus::postgres
//   b.project<Transferred>([](const Transferred& e, cmdbus::context& ctx) { /* same transaction */ });
//   b.subscribe<Transferred>([](const Transferred& e) { /* after commit; never for a rolled-back command */ });
//
// Contains: `unit_of_work`.
#pragma once

#include <cstddef>
#include <iterator>
#include <vector>

#include "cmdbus/context.hpp"

namespace cmdbus {

class unit_of_work {
 public:
  unit_of_work() = default;
  unit_of_work(const unit_of_work&) = delete;
  unit_of_work& operator=(const unit_of_work&) = delete;
  virtual ~unit_of_work() = default;

  /// Which store opened it ("sqlite", "postgres"): a command joins an outer unit of work only of its own store.
  [[nodiscard]] virtual const void* store_identity() const noexcept = 0;

  /// Holds an event for the after-commit subscribers.
  void defer(detail::pending_event e) { deferred_.push_back(std::move(e)); }
  /// A position to roll back to (savepoints).
  [[nodiscard]] std::size_t mark() const noexcept { return deferred_.size(); }
  /// Forgets the events deferred after `m`: their command's savepoint was rolled back.
  void discard_after(std::size_t m) { (void)take_after(m); }
  /// The deferred events, once the transaction has committed.
  [[nodiscard]] std::vector<detail::pending_event> take_deferred() noexcept { return std::move(deferred_); }
  /// The events deferred after `m` (one command's, in a batch of several), taken out.
  [[nodiscard]] std::vector<detail::pending_event> take_after(std::size_t m) {
    std::vector<detail::pending_event> out;
    if (m < deferred_.size()) {
      out.assign(std::make_move_iterator(deferred_.begin() + static_cast<std::ptrdiff_t>(m)),
                 std::make_move_iterator(deferred_.end()));
      deferred_.erase(deferred_.begin() + static_cast<std::ptrdiff_t>(m), deferred_.end());
    }
    return out;
  }

 private:
  std::vector<detail::pending_event> deferred_;
};

namespace detail {
/// The unit of work a route's worker opened around several commands on this thread (transaction_middleware::batch):
/// a command with no unit of work of that store up its chain of parents joins it.
inline constinit thread_local unit_of_work* ambient_unit_of_work = nullptr;
}  // namespace detail

}  // namespace cmdbus
