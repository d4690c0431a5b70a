// cmdbus/wire/envelope.hpp — a command as it leaves the process: one JSON object with every metadata field and the
// command's own payload, so that psql, sqlite3 or kcat can read it.
//
//   {"id":"0190b8e4-…","command":"bank.transfer","schema_version":1,
//    "correlation_id":"0190b8e4-…","causation_id":"0190b8e4-…","traceparent":"00-…-…-01",
//    "partition_key":"alice","attempt":2,"created_at_us":1796565600123456,"deadline_us":1796565630000000,
//    "headers":[["tenant","a"]],"payload":{"from":"alice","to":"bob","amount":5}}
//
// Required: id, command, schema_version, payload. The others are left out when empty (no correlation: the command
// is its own; no causation: a root command; no key: no ordering; no deadline). Times are microseconds since the Unix
// epoch (UTC). A payload that is not JSON text (a codec of another format) travels as a JSON string with
// "payload_is_text": true. Fields a reader does not know are ignored, so a newer writer may add some.
//
// Contains: `wire_envelope`, `encode_envelope()`, `parse_envelope()`, `micros()`, `from_micros()`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "cmdbus/context.hpp"
#include "cmdbus/id.hpp"

namespace cmdbus::wire {

/// A time as the wire (and a durable route's table) writes it: microseconds since the Unix epoch, UTC.
[[nodiscard]] inline std::int64_t micros(clock::time_point t) noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
[[nodiscard]] inline clock::time_point from_micros(std::int64_t us) noexcept {
  return clock::time_point{std::chrono::duration_cast<clock::duration>(std::chrono::microseconds{us})};
}

struct wire_envelope {
  command_id id;
  std::string command;  ///< the wire name
  std::uint32_t schema_version = 0;
  command_id correlation_id;  ///< nil: the command is its own correlation
  command_id causation_id;    ///< nil: a root command
  std::string traceparent;    ///< W3C; empty: none
  std::optional<std::string> partition_key;
  std::uint32_t attempt = 0;  ///< attempts made before this delivery
  clock::time_point created_at;
  std::optional<clock::time_point> deadline;
  std::vector<header> headers;
  std::string payload;  ///< the command as its codec wrote it
};

/// The envelope as JSON text. Throws std::invalid_argument if a string field is not valid UTF-8.
[[nodiscard]] std::string encode_envelope(const wire_envelope& e);

/// The envelope in `text`, or why it is not one, as one sentence naming the field: not JSON, not an object, a
/// required field missing, a field of the wrong type. Never throws for bad input.
[[nodiscard]] tl::expected<wire_envelope, std::string> parse_envelope(std::string_view text);

}  // namespace cmdbus::wire
