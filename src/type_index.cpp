#include <atomic>

#include "cmdbus/detail/type_index.hpp"

namespace cmdbus::detail {

std::uint32_t next_type_index() noexcept {
  static std::atomic<std::uint32_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace cmdbus::detail
