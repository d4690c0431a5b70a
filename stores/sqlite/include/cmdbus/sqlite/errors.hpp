// cmdbus/sqlite/errors.hpp — SQLite failures as cmdbus error codes.
//
// busy_error (transient: retried by the retry policy), constraint_error (rejected: names the constraint), error
// (fatal: anything else, with the SQLite result code, the database path and the statement).
#pragma once

#include <stdexcept>
#include <string>

#include "cmdbus/error.hpp"

namespace cmdbus::sqlite {

/// The database stayed locked past the busy timeout, or no pooled connection came free in time.
class busy_error : public cmdbus::transient_error {
 public:
  using cmdbus::transient_error::transient_error;
};

/// A UNIQUE, CHECK, FOREIGN KEY or NOT NULL constraint refused the write; what() names it.
class constraint_error : public cmdbus::rejected_error {
 public:
  using cmdbus::rejected_error::rejected_error;
};

/// Any other SQLite failure.
class error : public std::runtime_error {
 public:
  error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  /// The SQLite (extended) result code.
  [[nodiscard]] int code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace cmdbus::sqlite
