// cmdbus/codec.hpp — how a command type says it can leave the process: a codec turns it into bytes and back.
//
//   template <>
//   struct cmdbus::codec<Deposit> {
//     static constexpr std::uint32_t schema_version = 2;
//     static std::string encode(const Deposit& d) { ... }
//     static Deposit decode(std::string_view bytes, std::uint32_t written_as) { ... }   // any older version too
//   };
//
// A type without a codec stays in the process: the sync and local routes take it as it is, and a route kind that
// carries commands elsewhere (route_plan::needs_encoding) refuses it at startup, naming the command, the route and
// the file:line. The JSON wire format (issue 9's durable route, then Kafka) is one such codec; message_info carries
// the type's codec erased (encode, decode, schema_version).
//
// Contains: `codec<M>`, `has_codec<M>`.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace cmdbus {

/// Specialise for a type to make it encodable (see above). The primary template is left undefined.
template <class M>
struct codec;

template <class M>
concept has_codec = requires(const M& m, std::string_view bytes, std::uint32_t version) {
  { codec<M>::schema_version } -> std::convertible_to<std::uint32_t>;
  { codec<M>::encode(m) } -> std::convertible_to<std::string>;
  { codec<M>::decode(bytes, version) } -> std::same_as<M>;
};

}  // namespace cmdbus
