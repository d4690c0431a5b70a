// cmdbus/wire/json_codec.hpp — a command type's codec (cmdbus/codec.hpp) through nlohmann::json, in one line: the
// type's own to_json/from_json and a schema version.
//
//   struct Transfer {
//     static constexpr std::string_view command_name = "bank.transfer";
//     std::string from, to;
//     long amount = 0;
//   };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Transfer, from, to, amount)
//   CMDBUS_JSON_CODEC(Transfer, 1);   // at global namespace scope
//
// The payload is the command's JSON text. Fields the type does not read are ignored (a newer sender may have added
// some); with the _WITH_DEFAULT macro a field the payload lacks keeps its default. A type that reads older schema
// versions differently defines `static Transfer from_json_version(const nlohmann::json& j, std::uint32_t written_as)`.
// A payload that does not parse, or lacks a field the type requires, throws; a worker then makes the command a dead
// letter with that reason (worker_host::decode).
//
// Contains: `wire::json_codec<M, Version>`, `CMDBUS_JSON_CODEC`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cmdbus/codec.hpp"

namespace cmdbus::wire {

/// codec<M> for a type that nlohmann::json can read and write; `Version` is the schema version encode() writes.
template <class M, std::uint32_t Version>
struct json_codec {
  static constexpr std::uint32_t schema_version = Version;

  static std::string encode(const M& m) { return nlohmann::json(m).dump(); }

  static M decode(std::string_view bytes, std::uint32_t written_as) {
    const nlohmann::json j = nlohmann::json::parse(bytes);
    if constexpr (requires { M::from_json_version(j, written_as); }) {
      return M::from_json_version(j, written_as);
    } else {
      (void)written_as;
      return j.get<M>();
    }
  }
};

}  // namespace cmdbus::wire

/// Makes `Type` encodable as JSON, writing schema version `Version` (see the top of this file).
#define CMDBUS_JSON_CODEC(Type, Version) \
  template <>                            \
  struct cmdbus::codec<Type> : cmdbus::wire::json_codec<Type, Version> {}
