// cmdbus/postgres/errors.hpp — PostgreSQL failures as cmdbus error codes, classified by SQLSTATE.
//
//   transient (retried by cmdbus's retry middleware, the whole command in a new transaction):
//     serialization_error   40001: a concurrent transaction won under REPEATABLE READ / SERIALIZABLE
//     deadlock_error        40P01: PostgreSQL broke a lock cycle by aborting this transaction
//     connection_lost_error the server went away (or cannot be reached); the pool reconnects on the next command
//     busy_error            55P03 lock_not_available, or no pooled connection came free within acquire_timeout
//   rejected (not retried):
//     constraint_error      class 23: a UNIQUE, CHECK, FOREIGN KEY, NOT NULL or EXCLUSION constraint; names it
//   fatal (not retried):
//     commit_unknown_error  the connection broke during COMMIT: the transaction may or may not have committed
//     error                 anything else (syntax, permissions, a bad conninfo, ...), with the SQLSTATE
//
// Every message names what ran (the statement, or "BEGIN"/"COMMIT") and never the password of the conninfo.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "cmdbus/error.hpp"

namespace cmdbus::postgres {

/// 40001: the transaction could not be serialized against a concurrent one; running it again may succeed.
class serialization_error : public cmdbus::transient_error {
 public:
  using cmdbus::transient_error::transient_error;
};

/// 40P01: PostgreSQL detected a deadlock and aborted this transaction to break it.
class deadlock_error : public cmdbus::transient_error {
 public:
  using cmdbus::transient_error::transient_error;
};

/// The connection broke (server stopped or restarted, network failure, backend terminated), or a new connection
/// could not be opened. The broken connection has left the pool; the next command connects afresh.
class connection_lost_error : public cmdbus::transient_error {
 public:
  using cmdbus::transient_error::transient_error;
};

/// A lock could not be had (55P03, e.g. under lock_timeout), or every pooled connection stayed busy for
/// options::acquire_timeout.
class busy_error : public cmdbus::transient_error {
 public:
  using cmdbus::transient_error::transient_error;
};

/// A constraint refused the write (SQLSTATE class 23); what() names the constraint and the statement.
class constraint_error : public cmdbus::rejected_error {
 public:
  constraint_error(const std::string& what, std::string sqlstate, std::string constraint)
      : cmdbus::rejected_error(what), sqlstate_(std::move(sqlstate)), constraint_(std::move(constraint)) {}
  /// "23505" (unique), "23514" (check), "23503" (foreign key), "23502" (not null), ...
  [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }
  /// The constraint's name as PostgreSQL reports it; for NOT NULL, "table.column".
  [[nodiscard]] const std::string& constraint() const noexcept { return constraint_; }

 private:
  std::string sqlstate_;
  std::string constraint_;
};

/// Any other PostgreSQL failure (fatal: not retried).
class error : public std::runtime_error {
 public:
  error(const std::string& what, std::string sqlstate) : std::runtime_error(what), sqlstate_(std::move(sqlstate)) {}
  /// The five-character SQLSTATE, or empty when the failure came from the client library.
  [[nodiscard]] const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  std::string sqlstate_;
};

/// The connection broke while COMMIT was under way, so whether the transaction committed is unknown. Fatal, not
/// transient: running the command again could apply it twice. Check the database (or make the command idempotent).
class commit_unknown_error : public error {
 public:
  using error::error;
};

}  // namespace cmdbus::postgres
