// cmdbus/error.hpp — what went wrong with a command, and what the caller should do about it.
//
// Every failure carries an `error_code` that drives retries: `rejected` (do not retry: validation failed, unknown
// command, deadline passed), `transient` (retry: a busy database, an unreachable broker) or `fatal` (do not retry:
// a bug or a broken invariant; any exception cmdbus cannot classify). Handlers signal the first two by throwing
// `rejected_error` / `transient_error` (or types derived from them); every other exception counts as fatal.
//
//   auto r = bus.try_execute(Withdraw{...});
//   if (!r && r.error().code() == cmdbus::error_code::transient) { /* try again later */ }
//   r.error().rethrow();   // the handler's original exception, with its own type
//
// Contains: `error_code`, `error`, the exception types cmdbus throws, and `classify()`.
#pragma once

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cmdbus/id.hpp"

namespace cmdbus {

enum class error_code : unsigned char {
  rejected,   ///< the command is wrong or unwanted: retrying cannot help
  transient,  ///< the world was briefly unable: retrying may succeed
  fatal,      ///< a bug or broken invariant: stop and look
};

[[nodiscard]] std::string_view to_string(error_code code) noexcept;

/// Base of the exceptions that mean "rejected": do not retry.
class rejected_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// A command's validate() refused it; the handler did not run.
class validation_error : public rejected_error {
 public:
  using rejected_error::rejected_error;
};
/// No handler is registered for the command or query type that was dispatched.
class unknown_command_error : public rejected_error {
 public:
  using rejected_error::rejected_error;
};
/// The command's deadline had passed before its handler could start.
class deadline_exceeded_error : public rejected_error {
 public:
  using rejected_error::rejected_error;
};
/// Base of the exceptions that mean "transient": a retry may succeed.
class transient_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// A route's queue is full (and stayed full for its block timeout): try again later.
class queue_full_error : public transient_error {
 public:
  using transient_error::transient_error;
};
/// The bus or route is stopping and accepts no new commands.
class stopping_error : public rejected_error {
 public:
  using rejected_error::rejected_error;
};
/// execute() waited for an asynchronous command's outcome longer than its deadline or the route's timeout. The
/// command may still run: this says only that the caller stopped waiting.
class execute_timeout_error : public transient_error {
 public:
  using transient_error::transient_error;
};
/// A query asked to see a command's effects (at_least) and the command had not settled, or the read model had not
/// caught up, within the query's deadline.
class consistency_timeout_error : public transient_error {
 public:
  using transient_error::transient_error;
};

/// A blocking wait (handle::get/wait/wait_for) for a command that only the waiting thread could run: a route's worker
/// waiting on a command queued behind itself (a one-worker route, or a key that maps to its own worker). Thrown
/// instead of hanging; a bug in the calling code (fatal): execute the command (it runs inline on a worker), co_await
/// or then() the handle, or route the command elsewhere.
class self_wait_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

/// Registration misuse found while building the bus (a second handler for one type, ...).
class registration_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};
/// The route configuration does not fit what is registered; the message lists every problem with file:line.
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A command failed in another process (a durable route's worker elsewhere): its error as that process classified
/// and named it. classify() gives its original code (a remote rejected_error is still `rejected`), and a
/// cmdbus::error made from it reports the original type's name (error::type_name) and message.
class remote_error : public std::runtime_error {
 public:
  remote_error(error_code code, std::string original_type, const std::string& message)
      : std::runtime_error(message), code_(code), original_type_(std::move(original_type)) {}
  [[nodiscard]] error_code code() const noexcept { return code_; }
  /// The C++ type name of the exception in the process that ran the command, e.g. "bank::insufficient_funds".
  [[nodiscard]] const std::string& original_type() const noexcept { return original_type_; }

 private:
  error_code code_;
  std::string original_type_;
};

/// The error_code an exception stands for.
[[nodiscard]] error_code classify(const std::exception_ptr& e) noexcept;

/// A failed command as a value: the non-throwing call styles return it, and `rethrow()` gives back the original.
class error {
 public:
  error() = default;
  /// Captures `e` with the command it failed: the code and message are read from the exception.
  error(std::exception_ptr e, std::string_view command_name, cmdbus::command_id id, std::uint32_t attempts = 1);

  [[nodiscard]] error_code code() const noexcept { return code_; }
  /// The exception's what().
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  /// The demangled type of the original exception, e.g. "bank::insufficient_funds".
  [[nodiscard]] const std::string& type_name() const noexcept { return type_name_; }
  /// The command's (or query's) wire name.
  [[nodiscard]] const std::string& command_name() const noexcept { return command_name_; }
  [[nodiscard]] cmdbus::command_id id() const noexcept { return id_; }
  [[nodiscard]] std::uint32_t attempts() const noexcept { return attempts_; }
  [[nodiscard]] const std::exception_ptr& exception() const noexcept { return exception_; }
  /// Throws the original exception (its own type and message).
  [[noreturn]] void rethrow() const;
  /// One readable line: "rejected: bank.withdraw 0190...: insufficient funds (bank::insufficient_funds)".
  [[nodiscard]] std::string describe() const;

 private:
  std::exception_ptr exception_;
  std::string message_;
  std::string type_name_;
  std::string command_name_;
  cmdbus::command_id id_{};
  std::uint32_t attempts_ = 1;
  error_code code_ = error_code::fatal;
};

}  // namespace cmdbus
