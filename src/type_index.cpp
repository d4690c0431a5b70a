#include <atomic>

#include "cmdbus/detail/type_index.hpp"

namespace cmdbus::detail {

std::uint32_t next_type_index() noexcept {
  static std::atomic<std::uint32_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::uint32_t assign_type_index(std::atomic<std::uint32_t>& slot) noexcept {
  std::uint32_t expected = 0;
  const std::uint32_t fresh = next_type_index();
  // If another thread won, its index stands (an index is skipped, which costs nothing but one unused number).
  return slot.compare_exchange_strong(expected, fresh, std::memory_order_relaxed) ? fresh : expected;
}

}  // namespace cmdbus::detail
