// cmdbus/metrics.hpp — per-type counts, failures by error code, and a latency histogram, readable at any time.
//
//   auto metrics = cmdbus::make_metrics();
//   builder.use(metrics);
//   ...
//   for (const auto& m : metrics->snapshot())
//     fmt::print("{} {} calls, {} failed, p99 {} us\n", m.name, m.count, m.failures(), m.latency.quantile(0.99) / 1us);
//
// Counting is lock-free (relaxed atomics per type); a snapshot may be taken from any thread while commands run.
//
// Contains: `latency_histogram`, `command_metrics`, `metrics_middleware`, `make_metrics()`.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cmdbus/middleware.hpp"

namespace cmdbus {

/// Power-of-two buckets of nanoseconds: bucket b holds latencies in [2^(b-1), 2^b) ns (bucket 0: under 1 ns).
struct latency_histogram {
  static constexpr std::size_t bucket_count = 48;
  std::array<std::uint64_t, bucket_count> counts{};

  [[nodiscard]] std::uint64_t total() const noexcept;
  /// The upper bound of the bucket holding quantile q (0..1): never below the true value, at most twice it.
  [[nodiscard]] std::chrono::nanoseconds quantile(double q) const noexcept;
  [[nodiscard]] static std::size_t bucket_of(std::uint64_t ns) noexcept;
};

struct command_metrics {
  std::string name;  ///< wire name
  message_kind kind = message_kind::command;
  std::uint64_t count = 0;  ///< finished calls
  std::uint64_t succeeded = 0;
  std::uint64_t rejected = 0;
  std::uint64_t transient = 0;
  std::uint64_t fatal = 0;
  std::chrono::nanoseconds total_latency{0};
  latency_histogram latency;

  [[nodiscard]] std::uint64_t failures() const noexcept { return rejected + transient + fatal; }
  [[nodiscard]] std::chrono::nanoseconds mean_latency() const noexcept {
    return count == 0 ? std::chrono::nanoseconds{0} : total_latency / static_cast<std::int64_t>(count);
  }
};

class metrics_middleware final : public middleware {
 public:
  metrics_middleware();
  ~metrics_middleware() override;

  void on_start(std::span<const message_info* const> messages) override;
  void invoke(invocation& call, next_step next) override;

  /// Every command and query of the bus, in registration order (zero counts included).
  [[nodiscard]] std::vector<command_metrics> snapshot() const;
  /// One type's numbers, by wire name.
  [[nodiscard]] std::optional<command_metrics> of(std::string_view wire_name) const;

 private:
  struct table;
  [[nodiscard]] command_metrics read(const message_info& info) const;
  std::unique_ptr<table> table_;
};

[[nodiscard]] std::shared_ptr<metrics_middleware> make_metrics();

}  // namespace cmdbus
