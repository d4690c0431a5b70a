// Internal: a dense per-type index assigned once per process (the handler table's subscript), and a readable type
// name for diagnostics. Not part of the documented API.
#pragma once

#include <cstdint>
#include <string_view>

namespace cmdbus::detail {

/// The next free index; one counter for commands, queries and events.
[[nodiscard]] std::uint32_t next_type_index() noexcept;

/// Assigned on first use and stable for the process. A function-local static (not a variable template) so that use
/// during static initialisation of another translation unit still sees a valid index.
template <class T>
[[nodiscard]] std::uint32_t type_index() noexcept {
  static const std::uint32_t index = next_type_index();
  return index;
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
