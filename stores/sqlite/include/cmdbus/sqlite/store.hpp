// cmdbus/sqlite/store.hpp — SQLite as the embedded default store: a connection pool and the unit of work.
//
//   cmdbus::sqlite::store db({.path = "data/bank.db"});          // WAL; synchronous NORMAL unless .full_sync
//   db.exec_script(schema_sql);
//   b.use(cmdbus::make_retry());                                  // busy database -> transient -> retried
//   b.use(db.unit_of_work());                                     // one transaction per command
//   b.handle<Transfer>([](const Transfer& t, cmdbus::context& ctx) {
//     auto& sql = cmdbus::sqlite::connection_of(ctx);
//     sql.execute("UPDATE account SET balance = balance - ? WHERE id = ?", t.amount, t.from);
//     ...
//   });
//
// Each command runs in `BEGIN IMMEDIATE ... COMMIT` on a pooled connection; its projections run in the same
// transaction, its after-commit subscribers after COMMIT. Any error rolls the whole command back. A command
// dispatched from inside a handler joins the transaction under a SAVEPOINT: if the outer handler catches the inner
// failure only the inner part is undone. Queries run in a read transaction (`BEGIN DEFERRED`).
//
// Contains: `options`, `store`, `connection_of()`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cmdbus/context.hpp"
#include "cmdbus/middleware.hpp"
#include "cmdbus/sqlite/connection.hpp"

namespace cmdbus::sqlite {

struct options {
  std::string path = ":memory:";  ///< a file (its directory must exist and be writable) or ":memory:"
  bool full_sync = false;         ///< synchronous=FULL (durable across power loss) instead of NORMAL
  std::chrono::milliseconds busy_timeout{5000};
  std::size_t pool_size = 0;  ///< 0: 8 connections for a file, 1 for ":memory:" (each would be its own database)
};

class store {
 public:
  /// Opens the pool; a path that cannot be opened or written is an error naming the path.
  explicit store(options o);
  store(const store&) = delete;
  store& operator=(const store&) = delete;
  ~store();

  /// The unit-of-work middleware for this store; `use()` it after the retry middleware.
  [[nodiscard]] std::shared_ptr<middleware> unit_of_work();
  /// Runs a script outside any command (schema set-up), in its own transaction.
  void exec_script(std::string_view sql);
  /// Runs `f(connection&)` on a pooled connection outside any command (tests, tools).
  void with_connection(const std::function<void(connection&)>& f);
  /// The connection of this store's unit of work that `ctx` runs in (its own or an enclosing command's), or null
  /// when it runs in none of this store: what a durable route writes its outbox rows through.
  [[nodiscard]] connection* transaction_of(const context& ctx) const noexcept;
  /// The connection of the batch of several commands this thread runs (transaction_middleware::batch) if it is this
  /// store's, else null: where a durable route writes the rows of a batch's commands.
  [[nodiscard]] connection* ambient_transaction() const noexcept;
  /// Transactions this store has committed so far: a monotonic read-model version.
  [[nodiscard]] std::uint64_t committed() const noexcept;
  [[nodiscard]] const options& settings() const noexcept;

  struct state;

 private:
  std::shared_ptr<state> state_;
};

/// The connection of the command's unit of work; throws a clear error if `ctx` runs in none of this kind.
[[nodiscard]] connection& connection_of(const context& ctx);

}  // namespace cmdbus::sqlite
