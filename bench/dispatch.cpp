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
#include "support/ratio_report.hpp"

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

}  // namespace

int main(int argc, char** argv) {
  using bench_support::ratio;
  return bench_support::run(
      argc, argv,
      {"BM_Baseline_DirectCall", "BM_Baseline_StdFunction", "BM_Baseline_TypeIndexMap", "BM_Execute_Bare",
       "BM_Execute_Default", "BM_Send_Bare"},
      {ratio{"Execute_Bare", "Baseline_StdFunction", "<= 2.0", [](double r) { return r <= 2.0; }},
       ratio{"Execute_Bare", "Baseline_TypeIndexMap", "< 1.0", [](double r) { return r < 1.0; }},
       ratio{"Execute_Default", "Baseline_StdFunction", "<= 50", [](double r) { return r <= 50.0; }},
       ratio{"Send_Bare", "Baseline_StdFunction", "informational", nullptr}});
}
