// cmdbus/wire/convert.hpp — between a command the bus holds (detail::envelope) and its wire form: what a route kind
// that carries commands out of the process writes when it accepts one, and what its worker reads back.
//
//   wire_envelope w = to_wire(*e, host.info(e->type_index), clock::now());   // on enqueue
//   std::string row = encode_envelope(w);
//   ...
//   auto parsed = parse_envelope(row);                                       // on the worker
//   auto e = parsed ? from_wire(host, *parsed) : tl::unexpected(parsed.error());
//   if (!e) { /* a dead letter with e.error() as its reason */ }
//
// Contains: `to_wire()`, `from_wire()`.
#pragma once

#include <memory>
#include <string>

#include <tl/expected.hpp>

#include "cmdbus/detail/envelope.hpp"
#include "cmdbus/message_info.hpp"
#include "cmdbus/wire/envelope.hpp"
#include "cmdbus/worker.hpp"

namespace cmdbus::wire {

/// The wire form of `e` (of the type `info` describes), its payload written by the type's codec. Throws
/// std::logic_error if the type has no codec (a route that needs one refuses such a type at start), and what the
/// codec throws.
[[nodiscard]] wire_envelope to_wire(const detail::envelope& e, const message_info& info, clock::time_point created_at);
/// The same for a command given by its parts (one carried by value in a parcel: no options, no attempts yet).
[[nodiscard]] wire_envelope to_wire(const message_info& info, const void* payload, const command_id& id,
                                    const dispatch_options* options, std::uint32_t attempts,
                                    clock::time_point created_at);

/// The command `w` carries, ready for worker_host::run (id, correlation, causation, trace, deadline, headers and
/// attempts restored), or why it cannot run in this process (worker_host::decode). Never throws for bad input.
[[nodiscard]] tl::expected<std::unique_ptr<detail::envelope>, std::string> from_wire(const worker_host& host,
                                                                                     const wire_envelope& w);

}  // namespace cmdbus::wire
