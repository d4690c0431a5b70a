// Internal (cmdbus::durable): what a durable route asks of its table, whatever the database.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmdbus/command_status.hpp"
#include "cmdbus/context.hpp"
#include "cmdbus/dead_letters.hpp"
#include "cmdbus/id.hpp"
#include "cmdbus/transaction_middleware.hpp"

namespace cmdbus::durable::detail {

/// A command a worker claimed: its row, its wire envelope (JSON) and its attempts counting this one.
struct claimed {
  std::int64_t seq = 0;
  std::string envelope;
  std::uint32_t attempts = 0;
  bool awaited = false;  // its caller waits for the outcome (execute, send), perhaps in another process
};

/// The error type of a command that ended dead because its workers kept being lost while they ran it.
inline constexpr std::string_view worker_lost_type = "cmdbus::worker_lost";

/// What one claim may take.
struct claim_limits {
  std::chrono::milliseconds lease{30000};  ///< how long the claimed rows are the claimer's without a renewal
  std::size_t batch = 1;                   ///< at most this many rows
  std::uint32_t max_lost = 10;  ///< a row whose lease expired this many times (its worker lost each time) ends dead
};

/// A new row: the command as the wire envelope says, ready to run at `created_at`.
struct new_row {
  command_id id;
  std::string_view route;
  std::string_view command;
  const std::optional<std::string>* partition_key = nullptr;
  clock::time_point created_at;
  std::string_view envelope;
  bool awaited = false;  // sent with execute or send: the worker records the outcome for the caller
};

/// A row that has ended (succeeded, failed or dead), as a waiting caller reads it.
struct ended_row {
  command_id id;
  std::string state;
  std::optional<std::string> outcome;  // the wire outcome (docs/wire.md); null until the worker has recorded it
  std::string error_message;
  clock::time_point updated_at;
};

/// Rows of one route by state, at one moment.
struct counts {
  std::uint64_t pending = 0;        ///< ready to run now
  std::uint64_t waiting_retry = 0;  ///< pending, but not before a retry's time
  std::uint64_t running = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t dead = 0;
};

/// News from other processes about a route's table (PostgreSQL LISTEN/NOTIFY): "posted:<route>" (a command to
/// claim), "outcome:<route>" (an outcome recorded for a caller). A hint to look now; a bounded poll still runs, since
/// news sent while the listener reconnects is not seen.
class news {
 public:
  news() = default;
  news(const news&) = delete;
  news& operator=(const news&) = delete;
  virtual ~news() = default;
  /// Waits up to `timeout` (or until interrupt()); what came, oldest first. Throws when the connection broke.
  [[nodiscard]] virtual std::vector<std::string> wait(std::chrono::milliseconds timeout) = 0;
  /// Makes a wait() on another thread return now. Thread-safe.
  virtual void interrupt() noexcept = 0;
};

class queue {
 public:
  queue() = default;
  queue(const queue&) = delete;
  queue& operator=(const queue&) = delete;
  virtual ~queue() = default;

  /// Inserts the row. Inside a unit of work of the queue's store (`ctx` or an enclosing command runs in one), through
  /// that transaction: the row exists only if it commits (the outbox). Otherwise in a transaction of its own,
  /// committed on return. An id the table holds already changes nothing: that row stays as it is, whatever its state.
  virtual void insert(const new_row& row, const context* ctx) = 0;
  /// Claims up to `limits.batch` rows of `route` that may run now (pending and due, or running with an expired lease:
  /// that lost claim gives its attempt back, and the row's max_lost-th ends it dead), at most one per partition key
  /// and never one whose key has an earlier row pending or running, in order. Inside a batch of this thread
  /// (begin_batch), through it: the claim commits with the commands the batch runs, or not at all. Otherwise it
  /// commits on return.
  virtual std::vector<claimed> claim(std::string_view route, std::string_view worker, clock::time_point now,
                                     const claim_limits& limits) = 0;
  /// Extends to `until` the lease of the rows `seqs` that `worker` still holds (running). Commits.
  virtual void renew(const std::vector<std::int64_t>& seqs, std::string_view worker, clock::time_point until) = 0;
  /// Sets the state of the command `id` (and its last error, when not empty), unless another worker than `worker`
  /// holds it now. Commits.
  virtual void set_state(const command_id& id, command_status status, std::string_view error, clock::time_point now,
                         std::string_view worker) = 0;
  /// Marks succeeded those of the rows `seqs` that `worker` still holds; how many it marked. Inside a batch of this
  /// thread, through it (the batch's commands' done marks, in one statement before its COMMIT).
  virtual std::size_t mark_succeeded(const std::vector<std::int64_t>& seqs, std::string_view worker,
                                     clock::time_point now) = 0;
  /// The claimed row `seq`, if `worker` still holds it, runs again from `due` on (pending), its failure at `now`
  /// noted (error, first and last failure, worker). Commits.
  virtual void retry_at(std::int64_t seq, clock::time_point due, std::string_view error, clock::time_point now,
                        std::string_view worker) = 0;
  /// The row of `letter.id` (if `worker` or nobody holds it) ends dead with the letter's error (code, type, message),
  /// failed at `now` by `worker`. Commits.
  virtual void bury(const dead_letter& letter, clock::time_point now, std::string_view worker) = 0;
  /// The claimed row `seq` cannot become a command here: dead, with `reason` (error type cmdbus::unreadable). Commits.
  virtual void bury_unreadable(std::int64_t seq, std::string_view reason, clock::time_point now,
                               std::string_view worker) = 0;
  /// The dead rows of `route` as dead letters, oldest first; only the one of `id` when given.
  [[nodiscard]] virtual std::vector<dead_letter> dead(std::string_view route, const command_id* id) = 0;
  [[nodiscard]] virtual std::size_t count_dead(std::string_view route) = 0;
  /// The dead row `id` of `route` is pending again from `now` on, at the back of its key's line (a new seq), attempts
  /// afresh, its failure history kept, its requeues counted. False if `route` has no dead row `id`. Commits.
  virtual bool requeue_dead(std::string_view route, const command_id& id, clock::time_point now) = 0;
  /// Deletes the dead row `id` of `route`; false if there is none. Commits.
  virtual bool discard_dead(std::string_view route, const command_id& id) = 0;
  /// Records the outcome (a wire outcome's JSON) of the ended row `seq` for a caller waiting in another process.
  virtual void record_outcome(std::int64_t seq, std::string_view route, std::string_view outcome) = 0;
  /// A listener for news of the table's routes (connects now; throws if it cannot), or null where the database
  /// sends none (SQLite: the workers poll every poll_ms).
  [[nodiscard]] virtual std::unique_ptr<news> listen() = 0;
  /// The store's identity, as its unit of work's transaction_middleware::store() says.
  [[nodiscard]] virtual const void* store_identity() const noexcept = 0;
  /// Several commands' runs in one transaction of the store (each joins it under a savepoint; the row writes above
  /// made by this thread meanwhile go through it too). Throws like a command's transaction would.
  [[nodiscard]] virtual std::unique_ptr<transaction_middleware::batch> begin_batch() = 0;
  /// True where a claim may share a batch's transaction (SQLite: one writer anyway; PostgreSQL in READ COMMITTED, the
  /// store's default: in a stricter isolation level, a claim would fail on rows other claimers changed meanwhile).
  [[nodiscard]] virtual bool claims_in_batch() const noexcept = 0;
  /// Of the rows `ids`, those that have ended.
  [[nodiscard]] virtual std::vector<ended_row> ended(const std::vector<command_id>& ids) = 0;
  [[nodiscard]] virtual std::optional<command_state> status(const command_id& id) = 0;
  [[nodiscard]] virtual counts count(std::string_view route, clock::time_point now) = 0;
};

}  // namespace cmdbus::durable::detail
