// cmdbus/message_info.hpp — what the bus knows about a registered command, query or event type at run time.
//
// Middleware receives it with every invocation (`call.message().wire_name`), and the bus exposes the catalog of all
// registered types (`bus.messages()`), e.g. for an operator listing routes. The registration of a type fills in its
// codec's decode (bus_builder: it needs detail/envelope.hpp); make_message_info<M>() fills the rest.
//
// Contains: `message_info`, `make_message_info<M>()`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "cmdbus/codec.hpp"
#include "cmdbus/detail/type_index.hpp"
#include "cmdbus/message.hpp"

namespace cmdbus {

namespace detail {
struct envelope;
}  // namespace detail

struct message_info {
  std::string_view wire_name;
  std::string_view type_name;  ///< the C++ type, for diagnostics
  message_kind kind = message_kind::command;
  std::uint32_t index = 0;         ///< the type's dense index (detail::type_index)
  std::uint32_t result_index = 0;  ///< detail::type_index of the result type, for checked access by middleware
  /// Runs M::validate() on a payload; null when M defines none. Returns the rejection message, if any.
  std::optional<std::string> (*validate)(const void* payload) = nullptr;
  /// M::partition_key(); null when M defines none.
  std::string (*partition_key)(const void* payload) = nullptr;
  /// The type's codec (cmdbus/codec.hpp); all three unset when it has none. `schema_version` is what encode writes.
  std::uint32_t schema_version = 0;
  std::string (*encode)(const void* payload) = nullptr;
  /// The command decoded from bytes written as `schema_version`, in a heap envelope of its own (its payload and
  /// type_index set; its route fills the rest). Throws what the codec throws on bytes it cannot read.
  std::unique_ptr<detail::envelope> (*decode)(std::string_view bytes, std::uint32_t schema_version) = nullptr;

  /// The result's encoding, for a caller waiting in another process (a durable route's worker elsewhere): set when
  /// result_t<M> is void (encodes to nothing) or has a codec, null otherwise. `result` points at the result (a bool
  /// for void).
  std::string (*encode_result)(const void* result) = nullptr;
  std::uint32_t result_schema_version = 0;

  [[nodiscard]] bool encodable() const noexcept { return encode != nullptr && decode != nullptr; }
};

template <class M>
[[nodiscard]] message_info make_message_info() {
  message_info info;
  info.wire_name = wire_name_v<M>;
  info.type_name = detail::type_name<M>();
  info.kind = kind_v<M>;
  info.index = detail::type_index<M>();
  info.result_index = detail::type_index<result_t<M>>();
  if constexpr (has_validate<M>) {
    info.validate = [](const void* p) -> std::optional<std::string> {
      const auto& m = *static_cast<const M*>(p);
      if constexpr (std::is_void_v<decltype(m.validate())>) {
        m.validate();
        return std::nullopt;
      } else {
        return m.validate();
      }
    };
  }
  static_assert(!declares_partition_key<M> || has_partition_key<M>,
                "cmdbus: M::partition_key() must return text (std::string, std::string_view) or an integer");
  if constexpr (has_partition_key<M>) {
    info.partition_key = [](const void* p) -> std::string {
      const auto& key = static_cast<const M*>(p)->partition_key();
      if constexpr (std::is_integral_v<std::remove_cvref_t<decltype(key)>>) {
        return std::to_string(key);
      } else {
        return std::string{std::string_view{key}};
      }
    };
  }
  if constexpr (has_codec<M>) {
    info.schema_version = codec<M>::schema_version;
    info.encode = [](const void* p) -> std::string { return codec<M>::encode(*static_cast<const M*>(p)); };
  }
  using R = result_t<M>;
  if constexpr (std::is_void_v<R>) {
    info.encode_result = [](const void*) -> std::string { return {}; };
  } else if constexpr (has_codec<R>) {
    info.result_schema_version = codec<R>::schema_version;
    info.encode_result = [](const void* r) -> std::string { return codec<R>::encode(*static_cast<const R*>(r)); };
  }
  return info;
}

}  // namespace cmdbus
