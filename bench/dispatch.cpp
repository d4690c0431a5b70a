// bench_dispatch — what one dispatch through cmdbus costs, against the hand-written alternatives it replaces.
//
//   bench_dispatch [--benchmark_filter=...] [--benchmark_out=d.json --benchmark_out_format=json]
//
// Every benchmark does the same work per iteration: build a command from a counter (so nothing can be hoisted out
// of the loop), run the one handler function (out of line, opaque to the optimiser) through the mechanism under
// test, and keep the result. After the run the ratios the library is held to are printed, all taken from this run's
// per-call CPU times (the median of the repetitions). They are informational: the exit code does not depend on them.
// Repetitions are randomly interleaved unless --benchmark_enable_random_interleaving=false is given.
#include <benchmark/benchmark.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cmdbus/cmdbus.hpp"
#include "cmdbus/logging.hpp"

namespace {

struct Cmd {
  static constexpr std::string_view command_name = "bench.cmd";
  using result_type = int;
  int value = 0;
};

// A few other commands, so that neither the bus nor the naive map under test holds a single entry.
struct OtherA {
  static constexpr std::string_view command_name = "bench.other_a";
  using result_type = int;
  int value = 0;
};
struct OtherB {
  static constexpr std::string_view command_name = "bench.other_b";
  using result_type = int;
  int value = 0;
};
struct OtherC {
  static constexpr std::string_view command_name = "bench.other_c";
  using result_type = int;
  int value = 0;
};

// The handler's work, the same in every benchmark. noipa (which implies noinline) keeps GCC from inlining it or
// specialising it for its callers, so each mechanism pays for one real call to it, as with a handler in another
// translation unit. Compilers without noipa get noinline.
#if __has_cpp_attribute(gnu::noipa)
#define CMDBUS_BENCH_OPAQUE gnu::noipa
#else
#define CMDBUS_BENCH_OPAQUE gnu::noinline
#endif
[[CMDBUS_BENCH_OPAQUE]] int handle_cmd(const Cmd& c) {
  return c.value + 1;
}
[[CMDBUS_BENCH_OPAQUE]] int handle_other(int value) {
  return value - 1;
}

// ---- baselines -------------------------------------------------------------------------------------------------

void BM_Baseline_DirectCall(benchmark::State& state) {
  int next = 0;
  for (auto _ : state) {
    Cmd cmd{next++};
    benchmark::DoNotOptimize(cmd);
    int r = handle_cmd(cmd);
    benchmark::DoNotOptimize(r);
  }
}

void BM_Baseline_StdFunction(benchmark::State& state) {
  const std::function<int(const Cmd&)> fn = handle_cmd;
  int next = 0;
  for (auto _ : state) {
    Cmd cmd{next++};
    benchmark::DoNotOptimize(cmd);
    int r = fn(cmd);
    benchmark::DoNotOptimize(r);
  }
}

/// The bus people write first: handlers type-erased behind std::function, found by typeid on every call.
class naive_bus {
 public:
  template <class C, class F>
  void handle(F f) {
    handlers_.emplace(std::type_index(typeid(C)), [f](const void* cmd, void* out) {
      *static_cast<typename C::result_type*>(out) = f(*static_cast<const C*>(cmd));
    });
  }

  template <class C>
  typename C::result_type execute(const C& cmd) {
    const auto it = handlers_.find(std::type_index(typeid(C)));
    if (it == handlers_.end()) {
      throw std::runtime_error("no handler");
    }
    typename C::result_type out{};
    it->second(&cmd, &out);
    return out;
  }

 private:
  std::unordered_map<std::type_index, std::function<void(const void*, void*)>> handlers_;
};

void BM_Baseline_TypeIndexMap(benchmark::State& state) {
  naive_bus bus;
  bus.handle<OtherA>([](const OtherA& c) { return handle_other(c.value); });
  bus.handle<Cmd>([](const Cmd& c) { return handle_cmd(c); });
  bus.handle<OtherB>([](const OtherB& c) { return handle_other(c.value); });
  bus.handle<OtherC>([](const OtherC& c) { return handle_other(c.value); });
  int next = 0;
  for (auto _ : state) {
    Cmd cmd{next++};
    benchmark::DoNotOptimize(cmd);
    int r = bus.execute(cmd);
    benchmark::DoNotOptimize(r);
  }
}

// ---- cmdbus ----------------------------------------------------------------------------------------------------

void register_others(cmdbus::bus_builder& b) {
  b.handle<OtherA>([](const OtherA& c) { return handle_other(c.value); });
  b.handle<OtherB>([](const OtherB& c) { return handle_other(c.value); });
  b.handle<OtherC>([](const OtherC& c) { return handle_other(c.value); });
}

cmdbus::bus make_bare_bus() {
  cmdbus::bus_builder b;
  register_others(b);
  b.handle<Cmd>([](const Cmd& c) { return handle_cmd(c); });
  return cmdbus::bus{std::move(b)};
}

void BM_Execute_Bare(benchmark::State& state) {
  cmdbus::bus bus = make_bare_bus();
  int next = 0;
  for (auto _ : state) {
    Cmd cmd{next++};
    benchmark::DoNotOptimize(cmd);
    int r = bus.execute(cmd);
    benchmark::DoNotOptimize(r);
  }
}

void BM_Execute_Default(benchmark::State& state) {
  // The default production setup: metrics, and logging configured but quiet for successes. The middleware logs
  // successes at info and failures at warn or error; with the logger at err, a successful command costs one level
  // check and nothing is measured or formatted.
  auto logger = std::make_shared<spdlog::logger>("bench_dispatch", std::make_shared<spdlog::sinks::null_sink_mt>());
  logger->set_level(spdlog::level::err);
  auto metrics = cmdbus::make_metrics();

  cmdbus::bus_builder b;
  register_others(b);
  b.handle<Cmd>([](const Cmd& c, cmdbus::context& ctx) {
    benchmark::DoNotOptimize(ctx.id());  // a handler that reads its context's ids
    return handle_cmd(c);
  });
  b.use(metrics);
  b.use(cmdbus::make_logging(logger, spdlog::level::info));
  cmdbus::bus bus{std::move(b)};

  int next = 0;
  for (auto _ : state) {
    Cmd cmd{next++};
    benchmark::DoNotOptimize(cmd);
    int r = bus.execute(cmd);
    benchmark::DoNotOptimize(r);
  }

  const auto counted = metrics->of(Cmd::command_name);
  if (!counted || counted->count != static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("the metrics middleware did not count every call");
  }
}

void BM_Send_Bare(benchmark::State& state) {
  cmdbus::bus bus = make_bare_bus();
  int next = 0;
  for (auto _ : state) {
    Cmd cmd{next++};
    benchmark::DoNotOptimize(cmd);
    int r = bus.send(cmd).get();
    benchmark::DoNotOptimize(r);
  }
}

// Repetitions so that one unlucky stretch on a busy machine does not decide a ratio; the ratios use the medians.
// About 2 s of CPU per benchmark, 14 s in all (more wall time on a busy machine).
constexpr double min_time_s = 0.3;
constexpr int repetitions = 5;

BENCHMARK(BM_Baseline_DirectCall)->MinTime(min_time_s)->Repetitions(repetitions)->DisplayAggregatesOnly(true);
BENCHMARK(BM_Baseline_StdFunction)->MinTime(min_time_s)->Repetitions(repetitions)->DisplayAggregatesOnly(true);
BENCHMARK(BM_Baseline_TypeIndexMap)->MinTime(min_time_s)->Repetitions(repetitions)->DisplayAggregatesOnly(true);
BENCHMARK(BM_Execute_Bare)->MinTime(min_time_s)->Repetitions(repetitions)->DisplayAggregatesOnly(true);
BENCHMARK(BM_Execute_Default)->MinTime(min_time_s)->Repetitions(repetitions)->DisplayAggregatesOnly(true);
BENCHMARK(BM_Send_Bare)->MinTime(min_time_s)->Repetitions(repetitions)->DisplayAggregatesOnly(true);

// ---- ratios ----------------------------------------------------------------------------------------------------

/// Passes every report on to the display reporter (console, or whatever --benchmark_format chose) and keeps each
/// benchmark's per-call CPU time. The file reporter (--benchmark_out) is separate and unaffected.
class capturing_reporter final : public benchmark::BenchmarkReporter {
 public:
  explicit capturing_reporter(benchmark::BenchmarkReporter* display) : display_(display) {}

  bool ReportContext(const Context& context) override { return display_->ReportContext(context); }

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      if (run.error_occurred) {
        continue;
      }
      const double ns = run.GetAdjustedCPUTime() * 1e9 / benchmark::GetTimeUnitMultiplier(run.time_unit);
      auto& m = measured_[run.run_name.function_name];
      if (run.run_type == Run::RT_Iteration) {
        m.runs.push_back(ns);
      } else if (run.aggregate_unit == benchmark::kTime) {
        m.aggregates[run.aggregate_name] = ns;
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
    const auto& m = it->second;
    if (!m.runs.empty()) {
      auto runs = m.runs;
      std::sort(runs.begin(), runs.end());
      const auto n = runs.size();
      return n % 2 == 1 ? runs[n / 2] : (runs[n / 2 - 1] + runs[n / 2]) / 2;
    }
    for (const char* aggregate : {"median", "mean"}) {
      if (const auto a = m.aggregates.find(aggregate); a != m.aggregates.end()) {
        return a->second;
      }
    }
    return std::nullopt;
  }

  [[nodiscard]] bool measured_anything() const { return !measured_.empty(); }

 private:
  struct measurements {
    std::vector<double> runs;  // per repetition
    std::map<std::string, double, std::less<>> aggregates;
  };
  benchmark::BenchmarkReporter* display_;
  std::map<std::string, measurements, std::less<>> measured_;
};

void print_ratio(std::FILE* out, const capturing_reporter& results, const char* num, const char* den,
                 const char* target, bool (*pass)(double)) {
  const auto a = results.ns_per_call(std::string{"BM_"} + num);
  const auto b = results.ns_per_call(std::string{"BM_"} + den);
  if (!a || !b || *b <= 0) {
    std::fprintf(out, "ratio %s / %s: not measured\n", num, den);
    return;
  }
  const double ratio = *a / *b;
  if (pass == nullptr) {
    std::fprintf(out, "ratio %s / %s = %.2f (%s)\n", num, den, ratio, target);
  } else {
    std::fprintf(out, "ratio %s / %s = %.2f (target %s) %s\n", num, den, ratio, target, pass(ratio) ? "PASS" : "MISS");
  }
}

void print_summary(std::FILE* out, const capturing_reporter& results) {
  std::fprintf(out, "\nper call (median CPU time of the repetitions):\n");
  for (const char* name : {"BM_Baseline_DirectCall", "BM_Baseline_StdFunction", "BM_Baseline_TypeIndexMap",
                           "BM_Execute_Bare", "BM_Execute_Default", "BM_Send_Bare"}) {
    if (const auto ns = results.ns_per_call(name)) {
      std::fprintf(out, "  %-26s %8.2f ns\n", name, *ns);
    } else {
      std::fprintf(out, "  %-26s not measured\n", name);
    }
  }
  print_ratio(out, results, "Execute_Bare", "Baseline_StdFunction", "<= 2.0", [](double r) { return r <= 2.0; });
  print_ratio(out, results, "Execute_Bare", "Baseline_TypeIndexMap", "< 1.0", [](double r) { return r < 1.0; });
  print_ratio(out, results, "Execute_Default", "Baseline_StdFunction", "<= 50", [](double r) { return r <= 50.0; });
  print_ratio(out, results, "Send_Bare", "Baseline_StdFunction", "informational", nullptr);
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

int main(int argc, char** argv) {
  auto args = with_defaults(argc, argv);
  const bool console = display_is_console(args);
  int count = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) {
    return 1;
  }
  // CreateDefaultDisplayReporter() keeps ownership of the reporter it returns.
  capturing_reporter reporter(benchmark::CreateDefaultDisplayReporter());
  benchmark::RunSpecifiedBenchmarks(&reporter);
  if (reporter.measured_anything()) {
    print_summary(console ? stdout : stderr, reporter);
  }
  benchmark::Shutdown();
  return 0;  // the ratios are informational; a slow run never fails CI
}
