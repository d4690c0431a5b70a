#include "cmdbus/detail/cycle_clock.hpp"

#include <thread>

namespace cmdbus::detail {
namespace {

double measure_ns_per_tick() noexcept {
#if defined(__x86_64__)
  const auto t0 = std::chrono::steady_clock::now();
  const auto c0 = cycle_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const auto c1 = cycle_clock::now();
  const auto t1 = std::chrono::steady_clock::now();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  return c1 > c0 ? static_cast<double>(ns) / static_cast<double>(c1 - c0) : 1.0;
#else
  return 1.0;
#endif
}

}  // namespace

double cycle_clock::ns_per_tick() noexcept {
  static const double rate = measure_ns_per_tick();
  return rate;
}

std::chrono::system_clock::time_point cycle_clock::to_system(std::uint64_t ticks) noexcept {
  const auto now_ticks = now();
  const auto wall = std::chrono::system_clock::now();
  const auto ago = now_ticks > ticks ? static_cast<double>(now_ticks - ticks) * ns_per_tick() : 0.0;
  return wall - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::nanoseconds{static_cast<std::int64_t>(ago)});
}

}  // namespace cmdbus::detail
