// cmdbus/wire/outcome.hpp — what became of a command, as it travels back to a caller in another process: its
// result, or its error as the error code, the original exception's type name and its message.
//
//   {"id":"0190b8e4-…","succeeded":true,"result":42}
//   {"id":"0190b8e4-…","succeeded":false,
//    "error":{"code":"rejected","type":"bank::insufficient_funds","message":"alice has 3, needs 5"}}
//
// A result is the JSON text of the command's result type (left out for a command without a result). Fields a reader
// does not know are ignored.
//
// Contains: `wire_outcome`, `encode_outcome()`, `parse_outcome()`, `code_named()`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "cmdbus/error.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus::wire {

struct wire_outcome {
  command_id id;
  bool succeeded = false;
  std::string result;  ///< JSON text; empty: no result (a void command, or a failure)
  error_code code = error_code::fatal;
  std::string error_type;  ///< the exception's C++ type name, e.g. "bank::insufficient_funds"
  std::string error_message;
};

/// The outcome as JSON text. Throws std::invalid_argument if `result` is not JSON text or a string is not UTF-8.
[[nodiscard]] std::string encode_outcome(const wire_outcome& o);

/// The outcome in `text`, or why it is not one (as parse_envelope). Never throws for bad input.
[[nodiscard]] tl::expected<wire_outcome, std::string> parse_outcome(std::string_view text);

/// The error code a word names ("rejected", "transient", "fatal", as to_string(error_code) writes them), or nullopt.
[[nodiscard]] std::optional<error_code> code_named(std::string_view name) noexcept;

}  // namespace cmdbus::wire
