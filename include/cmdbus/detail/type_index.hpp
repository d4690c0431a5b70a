// Internal: a dense per-type index assigned once per process (the handler table's subscript), and a readable type
// name for diagnostics. Not part of the documented API.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace cmdbus::detail {

/// The next free index; one counter for commands, queries and events. Indices start at 1: 0 means "unassigned".
[[nodiscard]] std::uint32_t next_type_index() noexcept;
/// Sets `slot` to a new index unless another thread did first; returns the slot's index.
[[nodiscard]] std::uint32_t assign_type_index(std::atomic<std::uint32_t>& slot) noexcept;

/// Zero-initialised (constant initialisation, so valid even during other translation units' static
/// initialisation), filled on first use.
template <class T>
inline constinit std::atomic<std::uint32_t> type_index_slot{0};

/// Assigned on first use and stable for the process. One relaxed load on the hot path (no static-init guard).
template <class T>
[[nodiscard]] std::uint32_t type_index() noexcept {
  const std::uint32_t i = type_index_slot<T>.load(std::memory_order_relaxed);
  if (i != 0) [[likely]] {
    return i;
  }
  return assign_type_index(type_index_slot<T>);
}

/// "bank::Transfer" for bank::Transfer, read from the compiler's signature of this function.
template <class T>
[[nodiscard]] constexpr std::string_view type_name() noexcept {
  constexpr std::string_view sig = __PRETTY_FUNCTION__;  // "... type_name() [with T = bank::Transfer; ...]"
  constexpr std::string_view key = "T = ";
  constexpr auto start = sig.find(key) + key.size();
  constexpr auto end = sig.find_first_of(";]", start);
  return sig.substr(start, end - start);
}

}  // namespace cmdbus::detail
