// Benchmark support: latency percentiles from per-call samples, as Google Benchmark counters.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bench_support {

/// Nearest-rank percentile `q` (0..1] of sorted samples in nanoseconds, in microseconds.
[[nodiscard]] inline double percentile_us(const std::vector<std::int64_t>& sorted_ns, double q) {
  if (sorted_ns.empty()) {
    return 0;
  }
  const auto rank = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted_ns.size()))), 1, sorted_ns.size());
  return static_cast<double>(sorted_ns[rank - 1]) / 1000.0;
}

/// Sorts `samples_ns` and sets the counters p50_us, p99_us and max_us.
inline void set_latency_counters(benchmark::State& state, std::vector<std::int64_t>& samples_ns) {
  std::sort(samples_ns.begin(), samples_ns.end());
  state.counters["p50_us"] = percentile_us(samples_ns, 0.50);
  state.counters["p99_us"] = percentile_us(samples_ns, 0.99);
  state.counters["max_us"] = percentile_us(samples_ns, 1.0);
}

}  // namespace bench_support
