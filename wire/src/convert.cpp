// Between detail::envelope and its wire form (cmdbus/wire/convert.hpp).
#include "cmdbus/wire/convert.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace cmdbus::wire {

wire_envelope to_wire(const message_info& info, const void* payload, const command_id& id,
                      const dispatch_options* options, std::uint32_t attempts, clock::time_point created_at) {
  if (info.encode == nullptr) {
    throw std::logic_error(
        fmt::format("cmdbus: command '{}' ({}) has no codec (cmdbus/codec.hpp) and cannot leave "
                    "the process",
                    info.wire_name, info.type_name));
  }
  wire_envelope w;
  w.id = id;
  w.command = info.wire_name;
  w.schema_version = info.schema_version;
  if (options != nullptr) {
    w.correlation_id = options->correlation_id;
    w.causation_id = options->causation_id;
    w.traceparent = options->traceparent;
    w.deadline = options->deadline;
    w.headers = options->headers;
  }
  if (info.partition_key != nullptr) {
    w.partition_key = info.partition_key(payload);
  }
  w.attempt = attempts;
  w.created_at = created_at;
  w.payload = info.encode(payload);
  return w;
}

wire_envelope to_wire(const detail::envelope& e, const message_info& info, clock::time_point created_at) {
  return to_wire(info, e.payload, e.id, e.options.get(), e.attempts, created_at);
}

tl::expected<std::unique_ptr<detail::envelope>, std::string> from_wire(const worker_host& host,
                                                                       const wire_envelope& w) {
  auto decoded = host.decode(w.command, w.payload, w.schema_version);
  if (!decoded) {
    return decoded;
  }
  try {
    auto& e = **decoded;
    e.id = w.id;
    e.attempts = w.attempt;
    if (!w.correlation_id.is_nil() || !w.causation_id.is_nil() || !w.traceparent.empty() || w.deadline ||
        !w.headers.empty()) {
      auto o = std::make_unique<dispatch_options>();
      o->correlation_id = w.correlation_id;
      o->causation_id = w.causation_id;
      o->traceparent = w.traceparent;
      o->deadline = w.deadline;
      o->headers = w.headers;
      e.options = std::move(o);
    }
  } catch (const std::exception& x) {  // out of memory
    return tl::unexpected(
        fmt::format("command '{}' {} could not be restored: {}", w.command, w.id.to_string(), x.what()));
  }
  return decoded;
}

}  // namespace cmdbus::wire
