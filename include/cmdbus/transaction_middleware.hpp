// cmdbus/transaction_middleware.hpp — the unit-of-work flow every store shares; a store supplies the SQL.
//
// For store authors. A command with no open transaction of this store begins one, runs the handler and its
// projections, commits (or rolls back on any exception), gives the connection back, and then hands the committed
// events to the after-commit subscribers. A command dispatched inside it joins under a savepoint that is undone
// alone if the outer handler catches the failure. Looking for the open transaction walks up the whole chain of
// parents, past other stores' units of work: a second transaction of the same store would wait on the first's locks.
//
//   class my_uow final : public cmdbus::transaction_middleware {
//     std::unique_ptr<transaction> begin(bool read_only) override;   // take a connection, BEGIN
//     void commit(transaction&) override;                            // COMMIT (throw on failure)
//     void rollback(transaction&) noexcept override;                 // ROLLBACK, errors swallowed
//     void savepoint(transaction&, const std::string& name) override;
//     void release(transaction&, const std::string& name) override;
//     void rollback_to(transaction&, const std::string& name) noexcept override;
//     std::uint64_t committed() noexcept override;                  // advance the read-model version, return it
//     std::uint64_t version() const noexcept override;              // the read-model version now
//   };
//
// Contains: `transaction_middleware`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cmdbus/middleware.hpp"
#include "cmdbus/unit_of_work.hpp"

namespace cmdbus {

class transaction_middleware : public middleware {
 public:
  void invoke(invocation& call, next_step next) final;

  /// One open transaction; a store derives from it to hold its connection.
  class transaction : public unit_of_work {
   public:
    explicit transaction(const void* store) noexcept : store_(store) {}
    [[nodiscard]] const void* store_identity() const noexcept final { return store_; }

   private:
    friend class transaction_middleware;
    const void* store_;
    std::uint32_t savepoints_ = 0;
  };

  using transaction_type = transaction;

  /// Several commands in one transaction of this store, for a route's workers (a durable route's batch). From
  /// begin_batch() until commit() or destruction (a rollback), it is the calling thread's ambient unit of work: each
  /// command run on this thread meanwhile joins it under a savepoint of its own, so that a failure undoes only that
  /// command. The events of after-commit subscribers stay in the batch: take each command's with take_events()
  /// after it ran, and hand them on (worker_host::after_commit) once commit() has returned.
  class batch {
   public:
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    /// Rolls back unless committed.
    ~batch();
    /// A position in the batch's events, taken before a command runs.
    [[nodiscard]] std::size_t mark() const noexcept { return tx_->mark(); }
    /// The events deferred since `m`: those of the command that ran since.
    [[nodiscard]] std::vector<detail::pending_event> take_events(std::size_t m) { return tx_->take_after(m); }
    /// Commits (throws if the database refuses: nothing of the batch happened) and advances the store's read-model
    /// version. The thread has no ambient unit of work afterwards, either way.
    void commit();

   private:
    friend class transaction_middleware;
    batch(transaction_middleware& owner, std::unique_ptr<transaction> tx) noexcept;
    void leave() noexcept;

    transaction_middleware* owner_;
    std::unique_ptr<transaction> tx_;
    unit_of_work* previous_;
    bool done_ = false;
  };
  /// Begins a write transaction (throws like a command's would: busy, connection lost) as this thread's ambient
  /// unit of work. One batch per thread at a time.
  [[nodiscard]] std::unique_ptr<batch> begin_batch();

 protected:
  /// `store` identifies the store instance (its transactions say so in store_identity()).
  explicit transaction_middleware(const void* store) noexcept : store_(store) {}

  /// Takes a connection and begins; a read-only transaction for queries.
  [[nodiscard]] virtual std::unique_ptr<transaction> begin(bool read_only) = 0;
  virtual void commit(transaction& tx) = 0;
  virtual void rollback(transaction& tx) noexcept = 0;
  virtual void savepoint(transaction& tx, const std::string& name) = 0;
  virtual void release(transaction& tx, const std::string& name) = 0;
  virtual void rollback_to(transaction& tx, const std::string& name) noexcept = 0;
  /// After a write transaction committed (before after-commit subscribers run): advances the store's read-model
  /// version and returns the new value.
  virtual std::uint64_t committed() noexcept = 0;

 public:
  /// The store's read-model version now: how many write transactions it has committed.
  [[nodiscard]] virtual std::uint64_t version() const noexcept = 0;
  /// Which store this is (what its transactions' store_identity() and consistency tokens say).
  [[nodiscard]] const void* store() const noexcept { return store_; }

 private:
  [[nodiscard]] transaction* open_transaction(const context& ctx) const noexcept;
  void run_root(context& ctx, bool read_only, const next_step& next);
  void join(transaction& tx, const next_step& next);

  const void* store_;
};

}  // namespace cmdbus
