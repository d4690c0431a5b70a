// cmdbus/validation.hpp — runs a command's own validate() before its handler; a failure is a *rejected* error.
//
//   struct Withdraw {
//     static constexpr std::string_view command_name = "bank.withdraw";
//     long amount;
//     std::optional<std::string> validate() const {
//       if (amount <= 0) return "amount must be positive";
//       return std::nullopt;
//     }
//   };
//
// The bus adds this middleware by itself, innermost, for every type that defines validate(); `use()` it explicitly
// only to choose another position in the chain. Types without validate() pay nothing.
//
// Contains: `validation_middleware`.
#pragma once

#include "cmdbus/middleware.hpp"

namespace cmdbus {

class validation_middleware final : public middleware {
 public:
  /// Throws validation_error ("<wire name>: <message>") when validate() returns a message; an exception thrown by
  /// validate() itself is turned into a validation_error with its message, so it is never retried.
  void invoke(invocation& call, next_step next) override;
};

}  // namespace cmdbus
