// Benchmark support: run Google Benchmark as usual (console output, --benchmark_out JSON), then print per-call times
// and the ratios an issue asks for, all taken from this one run (median CPU time of the repetitions).
#pragma once

#include <string>
#include <vector>

namespace bench_support {

/// `numerator / denominator` of per-call time ("BM_" is prepended to both). With `throughput`, the ratio printed is
/// the numerator's throughput over the denominator's (the inverse of the time ratio).
struct ratio {
  const char* numerator;
  const char* denominator;
  const char* target;    ///< "<= 2.0", or "informational"
  bool (*pass)(double);  ///< null: informational
  bool throughput = false;
};

/// A user counter (`state.counters[name]`) of one benchmark ("BM_" is prepended), printed after the ratios: the
/// median over the repetitions.
struct counter {
  const char* benchmark;
  const char* name;
  const char* unit;      ///< printed after the value: "us", "% of one core"
  const char* target;    ///< "< 1.0", or "informational"
  bool (*pass)(double);  ///< null: informational
};

enum class clock_kind { cpu, real };

/// Parses benchmark flags (random interleaving on unless given), runs the registered benchmarks, prints `names`'
/// per-call times, the ratios and the `counters`. Returns the process exit code (0 unless the command line was bad).
/// CPU time suits pure computation; real time suits work that waits on I/O (a database) or on other threads.
int run(int argc, char** argv, const std::vector<std::string>& names, const std::vector<ratio>& ratios,
        clock_kind clock = clock_kind::cpu, const std::vector<counter>& counters = {});

}  // namespace bench_support
