// bench_durable, part two: what durable workers cost while idle, and how long a command takes from the call to its
// handled outcome on a durable route, beside the sync and local routes in the same run (issue 9, point 9 c and d).
//
//   BM_Durable_<Store>_IdleCpu    a bus with a two-worker durable route and nothing to do, for 2 s: this process's
//                                 CPU time as a share of one core (target < 1 %; PostgreSQL's own CPU is not in it)
//   BM_<Route>_SQLite_Latency     execute() of one transfer at a time (unit of work on a SQLite file): p50/p99/max;
//                                 Route = Sync (the caller's thread), Local (one worker thread), Durable (one
//                                 worker: the row is written, the worker woken, the outcome handed back)
//   BM_Durable_Postgres_Latency   the same on PostgreSQL
#include <benchmark/benchmark.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "durable_support.hpp"
#include "support/latency.hpp"

namespace {

using namespace std::chrono_literals;
using bench_durable::nth_transfer;

std::int64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// The CPU this process burns over 2 s while `bus` idles, as a share of one core.
void measure_idle(benchmark::State& state) {
  std::this_thread::sleep_for(200ms);  // let the workers start and settle
  double cpu_pct = 0;
  for (auto _ : state) {
    const auto cpu0 = process_cpu_ns();
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(2s);
    const auto t1 = std::chrono::steady_clock::now();
    const auto cpu1 = process_cpu_ns();
    cpu_pct = 100.0 * static_cast<double>(cpu1 - cpu0) /
              static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  state.counters["cpu_pct_of_core"] = cpu_pct;
}

/// Times each `bus.execute(transfer)` on its own; p50, p99 and max as counters.
void measure_latency(benchmark::State& state, cmdbus::bus& bus) {
  std::vector<std::int64_t> samples;
  samples.reserve(static_cast<std::size_t>(state.max_iterations));
  std::int64_t i = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    bus.execute(nth_transfer(i++));
    const auto t1 = std::chrono::steady_clock::now();
    samples.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
  }
  bench_support::set_latency_counters(state, samples);
}

std::string route_of_kind(const char* kind) {
  return std::string{"[routes.transfers]\nkind = \""} + kind +
         "\"\nworkers = 1\n[commands]\n\"bench.transfer\" = \"transfers\"\n";
}

void BM_Durable_SQLite_IdleCpu(benchmark::State& state) {
  bench_durable::sqlite_db db;
  cmdbus::bus bus{bench_durable::transfers(
      db.store,
      "[routes.transfers]\nkind = \"durable\"\nworkers = 2\n[commands]\n\"bench.transfer\" = \"transfers\"\n")};
  measure_idle(state);
}

void BM_Sync_SQLite_Latency(benchmark::State& state) {
  bench_durable::sqlite_db db;
  cmdbus::bus bus{bench_durable::transfers(db.store, "[commands]\n\"bench.transfer\" = \"sync\"\n")};
  measure_latency(state, bus);
}

void BM_Local_SQLite_Latency(benchmark::State& state) {
  bench_durable::sqlite_db db;
  cmdbus::bus bus{bench_durable::transfers(db.store, route_of_kind("local"))};
  measure_latency(state, bus);
}

void BM_Durable_SQLite_Latency(benchmark::State& state) {
  bench_durable::sqlite_db db;
  cmdbus::bus bus{bench_durable::transfers(db.store, route_of_kind("durable"))};
  measure_latency(state, bus);
}

void BM_Durable_Postgres_IdleCpu(benchmark::State& state) {
  bench_durable::pg_schema schema(state);
#if CMDBUS_DURABLE_WITH_POSTGRES
  if (auto s = bench_durable::pg_store(schema, true)) {
    cmdbus::bus bus{bench_durable::transfers(
        *s, "[routes.transfers]\nkind = \"durable\"\nworkers = 2\n[commands]\n\"bench.transfer\" = \"transfers\"\n")};
    measure_idle(state);
  }
#endif
}

void BM_Durable_Postgres_Latency(benchmark::State& state) {
  bench_durable::pg_schema schema(state);
#if CMDBUS_DURABLE_WITH_POSTGRES
  if (auto s = bench_durable::pg_store(schema, true)) {
    cmdbus::bus bus{bench_durable::transfers(*s, route_of_kind("durable"))};
    measure_latency(state, bus);
  }
#endif
}

constexpr int round_trips = 2000;
BENCHMARK(BM_Durable_SQLite_IdleCpu)->Iterations(1)->Repetitions(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Durable_Postgres_IdleCpu)->Iterations(1)->Repetitions(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Sync_SQLite_Latency)->Iterations(round_trips)->Repetitions(3)->DisplayAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_Local_SQLite_Latency)->Iterations(round_trips)->Repetitions(3)->DisplayAggregatesOnly(true)->UseRealTime();
BENCHMARK(BM_Durable_SQLite_Latency)
    ->Iterations(round_trips)
    ->Repetitions(3)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();
BENCHMARK(BM_Durable_Postgres_Latency)
    ->Iterations(round_trips)
    ->Repetitions(3)
    ->DisplayAggregatesOnly(true)
    ->UseRealTime();

}  // namespace
