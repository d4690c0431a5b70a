// cmdbus/postgres/store.hpp — PostgreSQL as the shared store: a connection pool and the unit of work.
//
//   cmdbus::postgres::store db({.conninfo = "host=db port=5432 dbname=bank user=bank",
//                               .isolation = cmdbus::postgres::isolation_level::serializable});
//   db.exec_script(schema_sql);
//   b.use(cmdbus::make_retry());                 // serialization failure, deadlock, lost connection -> retried
//   b.use(db.unit_of_work());                    // one transaction per command
//   b.handle<Transfer>([](const Transfer& t, cmdbus::context& ctx) {
//     auto& sql = cmdbus::postgres::connection_of(ctx);
//     sql.execute("UPDATE account SET balance = balance - $1 WHERE id = $2", t.amount, t.from);
//     ...
//   });
//
// Each command runs in `BEGIN ISOLATION LEVEL <level> ... COMMIT` on a pooled connection; its projections run in
// the same transaction, its after-commit subscribers after COMMIT. Any error rolls the whole command back. A command
// dispatched from inside a handler joins the transaction under a SAVEPOINT: if the outer handler catches the inner
// failure only the inner part is undone. Queries run in a read-only transaction (`BEGIN ... READ ONLY`).
//
// A connection that breaks leaves the pool, and the next command opens a new one; idle connections the server has
// closed (a restart) are noticed before use. While the server is down, commands fail with connection_lost_error
// (transient) and the store recovers by itself once it is back.
//
// Contains: `isolation_level`, `options`, `store`, `connection_of()`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cmdbus/context.hpp"
#include "cmdbus/middleware.hpp"
#include "cmdbus/postgres/connection.hpp"

namespace cmdbus::postgres {

enum class isolation_level : unsigned char { read_committed, repeatable_read, serializable };

/// "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE".
[[nodiscard]] std::string_view to_string(isolation_level level) noexcept;

struct options {
  std::string conninfo;       ///< libpq "host=... port=... dbname=... user=..." or "postgresql://user@host/db"
  std::size_t pool_size = 8;  ///< connections at most (opened on demand); 0 means the default, 8
  isolation_level isolation = isolation_level::read_committed;
  /// How long a command waits for a pooled connection before busy_error; also bounds connecting (in whole seconds,
  /// at least 2) unless the conninfo sets connect_timeout.
  std::chrono::milliseconds acquire_timeout{5000};
};

class store {
 public:
  /// Connects once to check the settings; a server that cannot be reached is a postgres::error naming its
  /// host:port (never the password).
  explicit store(options o);
  store(const store&) = delete;
  store& operator=(const store&) = delete;
  ~store();

  /// The unit-of-work middleware for this store; `use()` it after the retry middleware.
  [[nodiscard]] std::shared_ptr<middleware> unit_of_work();
  /// Runs a script outside any command (schema set-up), in its own transaction.
  void exec_script(std::string_view sql);
  /// Runs `f(connection&)` on a pooled connection outside any command (tests, tools), in autocommit mode.
  void with_connection(const std::function<void(connection&)>& f);
  /// The connection of this store's unit of work that `ctx` runs in (its own or an enclosing command's), or null
  /// when it runs in none of this store: what a durable route writes its outbox rows through.
  [[nodiscard]] connection* transaction_of(const context& ctx) const noexcept;
  /// The connection of the batch of several commands this thread runs (transaction_middleware::batch) if it is this
  /// store's, else null: where a durable route writes the rows of a batch's commands.
  [[nodiscard]] connection* ambient_transaction() const noexcept;
  /// Transactions of commands this store has committed so far: a monotonic read-model version.
  [[nodiscard]] std::uint64_t committed() const noexcept;
  [[nodiscard]] const options& settings() const noexcept;

  struct state;

 private:
  std::shared_ptr<state> state_;
};

/// The connection of the command's PostgreSQL unit of work; throws std::logic_error naming the command if `ctx`
/// runs in none (the store's unit_of_work() middleware is missing).
[[nodiscard]] connection& connection_of(const context& ctx);

}  // namespace cmdbus::postgres
