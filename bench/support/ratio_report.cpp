#include "ratio_report.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string_view>

namespace bench_support {
namespace {

/// Passes every report on to the display reporter (console, or whatever --benchmark_format chose) and keeps each
/// benchmark's per-call time and user counters. The file reporter (--benchmark_out) is separate and unaffected.
class capturing_reporter final : public benchmark::BenchmarkReporter {
 public:
  capturing_reporter(benchmark::BenchmarkReporter* display, clock_kind clock) : display_(display), clock_(clock) {}

  bool ReportContext(const Context& context) override { return display_->ReportContext(context); }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      if (run.error_occurred) {  // Google Benchmark 1.7 (Debian 12); 1.8 renamed it `skipped`
        continue;
      }
      const double t = clock_ == clock_kind::cpu ? run.GetAdjustedCPUTime() : run.GetAdjustedRealTime();
      const double ns = t * 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
      auto& m = measured_[run.run_name.function_name];
      if (run.run_type == Run::RT_Iteration) {
        m.runs.push_back(ns);
        for (const auto& [name, c] : run.counters) {
          m.counter_runs[name].push_back(c.value);
        }
      } else if (run.aggregate_unit == benchmark::kTime) {
        m.aggregates[run.aggregate_name] = ns;
        for (const auto& [name, c] : run.counters) {
          m.counter_aggregates[name][run.aggregate_name] = c.value;
        }
      }
    }
    display_->ReportRuns(runs);
  }

  void Finalize() override { display_->Finalize(); }

  /// Nanoseconds per call: the median of the repetitions, or nullopt if `name` did not run.
  [[nodiscard]] std::optional<double> ns_per_call(const std::string& name) const {
    const auto it = measured_.find(name);
    if (it == measured_.end()) {
      return std::nullopt;
    }
    return median_of(it->second.runs, it->second.aggregates);
  }

  /// A user counter's value: the median of the repetitions, or nullopt if `name` did not run or had no such counter.
  [[nodiscard]] std::optional<double> counter_value(const std::string& name, const std::string& counter) const {
    const auto it = measured_.find(name);
    if (it == measured_.end()) {
      return std::nullopt;
    }
    const auto& m = it->second;
    static const std::vector<double> none;
    static const std::map<std::string, double, std::less<>> no_aggregates;
    const auto runs = m.counter_runs.find(counter);
    const auto aggregates = m.counter_aggregates.find(counter);
    return median_of(runs == m.counter_runs.end() ? none : runs->second,
                     aggregates == m.counter_aggregates.end() ? no_aggregates : aggregates->second);
  }

  [[nodiscard]] bool measured_anything() const { return !measured_.empty(); }

 private:
  using aggregate_map = std::map<std::string, double, std::less<>>;  // by aggregate name ("median", "mean")
  struct measurements {
    std::vector<double> runs;  // per repetition
    aggregate_map aggregates;
    std::map<std::string, std::vector<double>, std::less<>> counter_runs;  // by counter name, per repetition
    std::map<std::string, aggregate_map, std::less<>> counter_aggregates;
  };

  /// The median of the repetitions if they were reported (not with DisplayAggregatesOnly), else the median or mean
  /// aggregate.
  static std::optional<double> median_of(const std::vector<double>& runs, const aggregate_map& aggregates) {
    if (!runs.empty()) {
      auto sorted = runs;
      std::sort(sorted.begin(), sorted.end());
      const auto n = sorted.size();
      return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
    for (const char* aggregate : {"median", "mean"}) {
      if (const auto a = aggregates.find(aggregate); a != aggregates.end()) {
        return a->second;
      }
    }
    return std::nullopt;
  }

  benchmark::BenchmarkReporter* display_;
  clock_kind clock_;
  std::map<std::string, measurements, std::less<>> measured_;
};

void print_ratio(std::FILE* out, const capturing_reporter& results, const ratio& r) {
  const auto a = results.ns_per_call(std::string{"BM_"} + r.numerator);
  const auto b = results.ns_per_call(std::string{"BM_"} + r.denominator);
  const char* kind = r.throughput ? "throughput ratio" : "ratio";
  if (!a || !b || *a <= 0 || *b <= 0) {
    std::fprintf(out, "%s %s / %s: not measured\n", kind, r.numerator, r.denominator);
    return;
  }
  const double value = r.throughput ? *b / *a : *a / *b;
  if (r.pass == nullptr) {
    std::fprintf(out, "%s %s / %s = %.2f (%s)\n", kind, r.numerator, r.denominator, value, r.target);
  } else {
    std::fprintf(out, "%s %s / %s = %.2f (target %s) %s\n", kind, r.numerator, r.denominator, value, r.target,
                 r.pass(value) ? "PASS" : "MISS");
  }
}

void print_counter(std::FILE* out, const capturing_reporter& results, const counter& c) {
  const auto v = results.counter_value(std::string{"BM_"} + c.benchmark, c.name);
  if (!v) {
    std::fprintf(out, "%s %s: not measured\n", c.benchmark, c.name);
  } else if (c.pass == nullptr) {
    std::fprintf(out, "%s %s = %.2f %s (%s)\n", c.benchmark, c.name, *v, c.unit, c.target);
  } else {
    std::fprintf(out, "%s %s = %.2f %s (target %s) %s\n", c.benchmark, c.name, *v, c.unit, c.target,
                 c.pass(*v) ? "PASS" : "MISS");
  }
}

/// The command line as given, plus --benchmark_enable_random_interleaving=true unless it says otherwise: the
/// repetitions of all benchmarks are then shuffled together, so a burst of load from elsewhere on the machine lands
/// on every benchmark alike instead of skewing one side of a ratio.
std::vector<char*> with_defaults(int argc, char** argv) {
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  std::vector<char*> args(argv, argv + argc);
  const bool given = std::any_of(args.begin(), args.end(), [](const char* a) {
    return std::string_view{a}.starts_with("--benchmark_enable_random_interleaving");
  });
  if (!given) {
    args.insert(args.begin() + (argc > 0 ? 1 : 0), interleave);
  }
  args.push_back(nullptr);  // argv[argc] is null, as benchmark::Initialize may expect
  return args;
}

/// True unless --benchmark_format asks for json or csv on stdout (the summary then goes to stderr, keeping stdout
/// parseable). Read before benchmark::Initialize, which consumes the flag.
bool display_is_console(const std::vector<char*>& args) {
  constexpr std::string_view flag = "--benchmark_format=";
  bool console = true;
  for (const char* a : args) {
    if (a == nullptr) {
      break;
    }
    if (const std::string_view arg{a}; arg.starts_with(flag)) {
      console = arg.substr(flag.size()) == "console";
    }
  }
  return console;
}

}  // namespace

int run(int argc, char** argv, const std::vector<std::string>& names, const std::vector<ratio>& ratios,
        clock_kind clock, const std::vector<counter>& counters) {
  auto args = with_defaults(argc, argv);
  const bool console = display_is_console(args);
  int count = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) {
    return 1;
  }
  // CreateDefaultDisplayReporter() keeps ownership of the reporter it returns.
  capturing_reporter reporter(benchmark::CreateDefaultDisplayReporter(), clock);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  if (reporter.measured_anything()) {
    std::FILE* out = console ? stdout : stderr;
    std::fprintf(out, "\nper call (median %s time of the repetitions):\n", clock == clock_kind::cpu ? "CPU" : "real");
    for (const auto& name : names) {
      if (const auto ns = reporter.ns_per_call(name)) {
        std::fprintf(out, "  %-26s %10.2f ns\n", name.c_str(), *ns);
      } else {
        std::fprintf(out, "  %-26s not measured\n", name.c_str());
      }
    }
    for (const auto& r : ratios) {
      print_ratio(out, reporter, r);
    }
    for (const auto& c : counters) {
      print_counter(out, reporter, c);
    }
  }
  benchmark::Shutdown();
  return 0;  // the ratios are informational; a slow run never fails CI
}

}  // namespace bench_support
